"""Notebook 4: ResNet50."""

from __future__ import annotations

import re

import numpy as np

from ..exercise import Exercise, Fixtures, fixture_key
from ..expected import deterministic_initializer, fresh_seed, load_fixtures
from ..graph import chain_back, chain_text, kind, kinds_with_fused
from ..guard import expect_untampered
from ..harness import call_learner, expect, failure, guarded, passed, short
from ..keras_internals import producer, recording_keras_resnets, walk_nodes, zero_initialised
from ..paths import FIXTURES
from .blocks import block_branches, check_conv_bias_and_bn, check_initializers
from .common import (
    BATCH,
    BN_EPSILON,
    TOLERANCE,
    architecture_of,
    close,
    compare_modes,
    copy_reference,
    expect_model,
    expect_tensor,
    fmt_shape,
    lazy_keras,
    limit,
    randomize,
)

RESNET_CONFIGS = [((64, 64, 3), 6), ((96, 96, 3), 4)]   # (input shape, classes); the fixtures hold the parameter counts
STAGES = [(3, 256), (4, 512), (6, 1024), (3, 2048)]    # (blocks, output channels) of conv2_x .. conv5_x


# --------------------------------------------------------------------------- ResNet-50
def _stage_table(model):
    """The model's Add operations in graph order, and the stages they form.

    Consecutive blocks with the same number of output channels form a stage:
    ``{"blocks": n, "channels": c, "size": (h, w), "kinds": ["conv", "identity", ...]}``.
    """
    adds = [(op, node) for op, node in walk_nodes(model.outputs) if kind(op) == "add"]
    stages = []
    for op, node in adds:
        _, h, w, c = tuple(node.output_tensors[0].shape)
        if stages and stages[-1]["channels"] == c:
            stages[-1]["blocks"] += 1
            stages[-1]["kinds"].append(_shortcut_kind(node))
        else:
            stages.append({"blocks": 1, "channels": c, "size": (h, w), "kinds": [_shortcut_kind(node)]})
    return adds, stages


def _shortcut_kind(add_node):
    """'conv' when both inputs of a block's Add end in Conv2D -> BatchNormalization (a projection
    shortcut), 'identity' when one input is the block's input itself."""
    lengths = []
    for t in add_node.input_tensors:
        n, cur = 0, t
        while (p := producer(cur)) is not None and kind(p[0]) in ("conv", "bn") and len(p[1].input_tensors) == 1:
            n += 1
            cur = p[1].input_tensors[0]
            if n > 2:
                break
        lengths.append(n)
    return "conv" if min(lengths) == 2 else "identity"


def _expected_sizes(side):
    """Spatial size after the stem and after each stage for a square input of ``side`` pixels."""
    stem = (side + 6 - 7) // 2 + 1          # ZeroPadding2D(3) + 7x7/2 valid
    pool = (stem + 2 - 3) // 2 + 1          # ZeroPadding2D(1) + 3x3/2 max-pool
    sizes = [pool]
    for _ in range(3):
        sizes.append((sizes[-1] - 1) // 2 + 1)
    return sizes


def _check_resnet_structure(ex, model, input_shape, classes):
    __tracebackhide__ = True
    expect(tuple(model.input_shape) == (None,) + tuple(input_shape), ex, "the model's input shape",
           (None,) + tuple(input_shape), tuple(model.input_shape), "X_input = Input(input_shape)")
    out_shape = tuple(model.output_shape)
    if out_shape != (None, classes):
        hint = "the head is GlobalAveragePooling2D followed by Dense(classes, activation='softmax')"
        if len(out_shape) == 4:
            hint = "pool the last feature map (GlobalAveragePooling2D) before the Dense layer"
        raise failure(ex, f"the model's output shape for classes={classes}", (None, classes), out_shape, hint)

    inp = model.inputs[0]
    adds, stages = _stage_table(model)
    expect(len(adds) > 0, ex, "residual connections (Add operations) in the model", 16, 0,
           "build the stages from convolutional_block and identity_block")

    # Stem: the shortcut of the first block leads back to the input through the stem.
    first_add = adds[0][1]
    shorter = min(first_add.input_tensors, key=lambda t: len(chain_back(t, inp)[0]))
    ops, reached = chain_back(shorter, inp)
    stem_ops = ops[:-2] if _shortcut_kind(first_add) == "conv" else ops
    stem = kinds_with_fused(stem_ops)
    want_stem = ["pad", "conv", "bn", "relu", "pad", "maxpool"]
    if reached and stem != want_stem:
        hint = "ZeroPadding2D((3, 3)) -> Conv2D(64, (7, 7), strides=(2, 2)) -> BatchNormalization -> ReLU -> ZeroPadding2D((1, 1)) -> MaxPooling2D((3, 3), strides=(2, 2))"
        if stem == ["pad", "conv", "bn", "pad", "maxpool"]:
            hint = "the stem needs a ReLU after its BatchNormalization"
        elif stem == ["pad", "conv", "bn", "relu", "maxpool"]:
            hint = "pad by one pixel before the 3x3/2 max-pool (ZeroPadding2D((1, 1))), as keras.applications does"
        elif stem[:1] == ["conv"] and stem_ops and getattr(stem_ops[0], "padding", "") == "same":
            hint = ("use ZeroPadding2D((3, 3)) and a 'valid' 7x7 conv: padding='same' pads 2 and 3 pixels "
                    "instead of 3 and 3, which shifts every output")
        elif "avgpool" in stem:
            hint = "the stem ends with a max-pool, not an average pool"
        raise failure(ex, "layers of the stem (before stage 2)", chain_text(want_stem), chain_text(stem), hint)
    if reached:
        conv = stem_ops[1]
        got = (tuple(conv.kernel_size), tuple(conv.strides), conv.filters, conv.padding, bool(conv.use_bias))
        want = ((7, 7), (2, 2), 64, "valid", True)
        hint = "Conv2D(64, (7, 7), strides=(2, 2)) after ZeroPadding2D((3, 3)), with its bias (the default)"
        if got[:4] == want[:4] and not got[4]:
            hint = "the stem conv keeps its bias (use_bias=True, the default), as in keras.applications.ResNet50"
        expect(got == want, ex, "the stem convolution (kernel, strides, filters, padding, use_bias)", want, got, hint)
        pads = (tuple(map(tuple, stem_ops[0].padding)), tuple(map(tuple, stem_ops[4].padding)))
        expect(pads == (((3, 3), (3, 3)), ((1, 1), (1, 1))), ex, "zero padding before the stem conv and the max-pool",
               (((3, 3), (3, 3)), ((1, 1), (1, 1))), pads, "ZeroPadding2D((3, 3)) before the conv, ZeroPadding2D((1, 1)) before the pool")
        pool = stem_ops[5]
        expect((tuple(pool.pool_size), tuple(pool.strides)) == ((3, 3), (2, 2)), ex,
               "the stem max-pool (pool_size, strides)", ((3, 3), (2, 2)), (tuple(pool.pool_size), tuple(pool.strides)),
               "MaxPooling2D((3, 3), strides=(2, 2))")

    got_blocks = [st["blocks"] for st in stages]
    got_channels = [st["channels"] for st in stages]
    want_blocks = [b for b, _ in STAGES]
    want_channels = [c for _, c in STAGES]
    expect(got_channels == want_channels, ex, "output channels of the stages conv2_x .. conv5_x",
           want_channels, got_channels, "filters per stage: [64, 64, 256], [128, 128, 512], [256, 256, 1024], [512, 512, 2048]")
    expect(got_blocks == want_blocks, ex, "number of blocks in each stage", want_blocks, got_blocks,
           "ResNet-50 has 3, 4, 6 and 3 blocks: one convolutional block followed by identity blocks")
    got_kinds = [st["kinds"] for st in stages]
    want_kinds = [["conv"] + ["identity"] * (b - 1) for b in want_blocks]
    expect(got_kinds == want_kinds, ex, "block types in each stage", want_kinds, got_kinds,
           "each stage starts with one convolutional_block, then identity_blocks")
    windows = [tuple(op.kernel_size) for op, _ in walk_nodes(model.outputs)
               if kind(op) == "conv" and tuple(op.kernel_size) not in ((1, 1), (7, 7))]
    n_blocks = sum(want_blocks)
    expect(windows == [(3, 3)] * n_blocks, ex, "window of the middle convolution of every block",
           f"(3, 3) in all {n_blocks} blocks", f"{windows.count((3, 3))} blocks with (3, 3), others: "
           f"{sorted(set(windows) - {(3, 3)}) or 'none'}, {n_blocks - len(windows)} blocks with (1, 1)",
           "call the blocks with f=3")
    want_sizes = _expected_sizes(input_shape[0])
    got_sizes = [st["size"][0] for st in stages]
    if got_sizes != want_sizes:
        hint = "stage 2 uses s=1 (the max-pool already halved the size); stages 3, 4 and 5 use s=2"
        if got_sizes[0] == want_sizes[0] - 1:
            hint = "pad by one pixel before the max-pool (ZeroPadding2D((1, 1)))"
        raise failure(ex, f"height of the feature maps after each stage for input {tuple(input_shape)}",
                      want_sizes, got_sizes, hint)

    # Head: Dense(classes, softmax) on GlobalAveragePooling2D.
    last_op, last_node = producer(model.outputs[0])
    dense_op, dense_node = last_op, last_node
    if kind(last_op) == "softmax":
        dense_op, dense_node = producer(last_node.input_tensors[0])
    expect(kind(dense_op) == "dense", ex, "the classifier is a Dense layer", "Dense", type(dense_op).__name__,
           "finish with Dense(classes, activation='softmax')")
    softmax = kind(last_op) == "softmax" or getattr(getattr(dense_op, "activation", None), "__name__", "") == "softmax"
    expect(softmax, ex, "the classifier's activation", "softmax",
           getattr(getattr(dense_op, "activation", None), "__name__", "?"), "Dense(classes, activation='softmax')")
    pool_prod = producer(dense_node.input_tensors[0])
    if pool_prod is None or kind(pool_prod[0]) != "gap":
        got = chain_text([kind(pool_prod[0])]) if pool_prod else "?"
        hint = "use GlobalAveragePooling2D() before the Dense layer"
        if got == "Flatten":
            hint = ("use GlobalAveragePooling2D() instead of AveragePooling2D + Flatten: at 64x64 they agree, "
                    "at other input sizes they do not")
        raise failure(ex, "the pooling before the classifier", "GlobalAveragePooling2D", got, hint)


def _reference_resnet(input_shape, classes, seed):
    keras = lazy_keras()
    with zero_initialised():  # randomize sets every weight
        reference = keras.applications.ResNet50(weights=None, input_shape=tuple(input_shape), classes=classes)
    randomize(reference, np.random.default_rng(seed))
    return reference


def _probes(model):
    """A sub-model returning the output of the last Add of each stage, the pooled features and the output."""
    keras = lazy_keras()
    adds, stages = _stage_table(model)
    ends, i = [], 0
    for st in stages:
        i += st["blocks"]
        ends.append(adds[i - 1][1].output_tensors[0])
    last_op, last_node = producer(model.outputs[0])
    dense_node = last_node if kind(last_op) == "dense" else producer(last_node.input_tensors[0])[1]
    outputs = ends + [dense_node.input_tensors[0], model.outputs[0]]
    return keras.Model(model.inputs, outputs)


def _compare_resnet(ex, model, input_shape, classes, seed):
    __tracebackhide__ = True
    keras = lazy_keras()
    reference = _reference_resnet(input_shape, classes, seed)
    copy_reference(ex, reference, model,
                   f"the layers against keras.applications.ResNet50 one for one, for input {tuple(input_shape)}",
                   "the layer named under 'got' is the first that differs from Keras's: compare its kernel size, "
                   "filters and bias with the table")
    names = ["stage conv2_x", "stage conv3_x", "stage conv4_x", "stage conv5_x", "pooled features", "output"]
    probe_m, probe_r = _probes(model), _probes(reference)
    x = np.random.default_rng(seed + 1).uniform(0, 1, (2,) + tuple(input_shape)).astype("float32")
    where = f"for input {tuple(input_shape)} and classes={classes}"

    def run(probe, training):
        outputs = probe(x) if training is None else probe(x, training=training)
        return [keras.ops.convert_to_numpy(t) for t in outputs]

    bare = run(probe_m, None)
    want = {mode: run(probe_r, mode) for mode in (False, True)}
    got = {False: bare, True: run(probe_m, True)}  # bare stands for training=False where it is right
    if not all(close(b, w) for b, w in zip(bare, want[False])):
        got[False] = run(probe_m, False)
        right = all(close(g, w) for g, w in zip(got[False], want[False])) or close(got[True][-1], want[True][-1])
        if right:  # right with training=False, or in training mode: not in inference mode by default
            raise failure(ex, f"model(x) without `training` {where} must run BatchNorm in inference mode",
                          short(want[False][-1]), short(bare[-1]),
                          "don't pass training=True to BatchNormalization inside the blocks or the model")
    for mode in (False, True):
        for name, g, w in zip(names, got[mode], want[mode]):
            if not close(g, w):
                raise failure(ex, f"values after the {name} with training={mode}, {where}, after copying the weights "
                                  "of keras.applications.ResNet50 into your model", short(w), short(g),
                              f"the first difference appears at the {name}; compare that part with the specification "
                              f"(tolerance: {TOLERANCE})")


def _keras_applications_evidence(model, recorded: list) -> str:
    """What gives away a model made by keras.applications' ResNet builder, or "".

    ``recorded``: the models the builder made while the student's function ran, seen by ``recording_keras_resnets``
    in the student's own kernel, or reported by the sandbox to a judge (resnet_course.grading). Otherwise the names:
    the builder calls the model ``resnet50`` and the layers of its blocks ``conv<stage>_block<block>_<i>_<kind>``,
    which the course's blocks never do. Nothing else in the graph tells: the notebook's blocks are Keras's own
    (``keras_blocks``) and its stem and head are Keras's layer for layer, so a renamed copy of Keras's model has
    the configuration and weights of the reference solution.
    """
    if recorded:
        return f"Keras's ResNet builder ran while your function did, and made '{recorded[0]}'"
    name = getattr(model, "name", "")
    named = [layer.name for layer in getattr(model, "layers", []) if re.match(r"conv[2-5]_block\d+_", layer.name)]
    if name == "resnet50":
        return "the model is named 'resnet50', as Keras's ResNet builder names it"
    if len(named) >= 8:
        return f"{len(named)} layers named as Keras's ResNet builder names them, '{named[0]}' the first"
    return ""


def _resnet_test(ex, target, configs, seed):
    __tracebackhide__ = True
    expect_untampered(ex)
    fixtures = load_fixtures(exercise=ex)
    for i, (input_shape, classes) in enumerate(configs):
        with recording_keras_resnets() as prebuilt:
            # Its weights are replaced by the reference's (_compare_resnet): only its architecture is needed.
            model = call_learner(ex, architecture_of(target), input_shape=input_shape, classes=classes,
                                 timeout=limit('model'))
        evidence = _keras_applications_evidence(model, prebuilt)
        if evidence:
            raise failure(ex, "the network must be built by your function, layer by layer",
                          "a model made of your stem, the blocks and the head",
                          f"a model made by keras.applications ({evidence})",
                          "keras.applications.ResNet50 is the reference this test compares with, so returning it, "
                          "renamed or copied layer by layer, proves nothing: build the stem, the stages from "
                          "convolutional_block and identity_block, and the head, as the table describes (the grader "
                          "gets your model as configuration and weights, where Keras's renamed equals the course's, "
                          "so it records whether Keras's ResNet builder ran during your function)")
        expect_model(ex, model)
        _check_resnet_structure(ex, model, input_shape, classes)
        key = fixture_key(ex, "params", "x".join(map(str, input_shape)), classes)
        want = int(fixtures[key]) if key in fixtures else None
        if want is not None:
            got = int(model.count_params())
            hint = "compare the stage table: filters per stage and one Dense(classes) head"
            if want - got == 64:
                hint = "64 parameters short: the stem's 7x7 conv needs its bias (use_bias=True, the default)"
            expect(got == want, ex, f"number of parameters for input {tuple(input_shape)}, classes={classes}",
                   f"{want:,}", f"{got:,}", hint)
        _compare_resnet(ex, model, input_shape, classes, seed + i)
    sizes = " and ".join(f"{s[0]}x{s[1]}" for s, _ in configs)
    passed(ex, f"stem, stages, head, parameters and outputs against keras.applications.ResNet50 at {sizes}")


def ResNet50_test(target):
    """Check ``ResNet50(input_shape, classes)`` at 64x64 (6 classes) and 96x96 (4 classes)."""
    __tracebackhide__ = True
    with guarded("ResNet50"):
        _resnet_test("ResNet50", target, RESNET_CONFIGS, seed=50)


def ResNet50_hidden_test(target, seed=None):
    """Re-check ``ResNet50`` at a fresh input size and number of classes with fresh weights."""
    __tracebackhide__ = True
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    side = int(rng.choice([48, 80, 112]))
    with guarded("ResNet50"):
        _resnet_test("ResNet50", target, [((side, side, 3), int(rng.integers(2, 12)))], seed)


# --------------------------------------------------------------------------- basic_block (ResNet-18/34)
# Fixed configurations: (input shape without the batch axis, filters, s): an identity shortcut, a projection for
# new channels, a projection for a stride.
BASIC_CONFIGS = [((5, 5, 4), 4, 1), ((4, 4, 3), 5, 1), ((6, 6, 2), 3, 2)]
BASIC_MAIN = ["conv", "bn", "relu", "conv", "bn"]


def _check_basic_structure(ex, inp, out, filters, s):
    """Check a basic block's graph: ReLU(Add), the shortcut its shape calls for, two 3x3 convolutions."""
    __tracebackhide__ = True
    shortcut, main = block_branches(ex, inp, out)
    short_kinds, main_kinds = kinds_with_fused(shortcut), kinds_with_fused(main)
    projection = s != 1 or inp.shape[-1] != filters
    why = f"s={s} and X has {inp.shape[-1]} channels for filters={filters}"
    if not projection:
        expect(not shortcut, ex, f"the shortcut is X itself when the shape does not change ({why})",
               "X_shortcut = X (no layers)", chain_text(short_kinds),
               "project only when s != 1 or X's channels differ from filters: "
               "if s != 1 or X.shape[-1] != filters: ...")
    else:
        expect(short_kinds == ["conv", "bn"], ex, f"the shortcut projects X when the shape changes ({why})",
               chain_text(["conv", "bn"]), chain_text(short_kinds) if shortcut else "X unchanged",
               "X_shortcut = Conv2D(filters, 1, strides=s) then BatchNormalization: the Add needs both inputs "
               "of the same shape")
    if main_kinds != BASIC_MAIN:
        hint = "two steps: Conv2D -> BatchNormalization -> ReLU, then Conv2D -> BatchNormalization (no ReLU before the Add)"
        if any("fused" in k for k in main_kinds):
            hint = "Conv2D(activation='relu') applies ReLU before BatchNorm; use a separate ReLU after BatchNorm"
        elif main_kinds == BASIC_MAIN + ["relu"]:
            hint = "the ReLU comes after the Add: feed the second BatchNorm's output straight into the Add"
        elif main_kinds.count("conv") != 2:
            hint = f"a basic block has two 3x3 Conv2D layers on its main path; yours has {main_kinds.count('conv')}"
        raise failure(ex, "layers of the main path, in order", chain_text(BASIC_MAIN), chain_text(main_kinds), hint)
    convs = [op for op in main if kind(op) == "conv"]
    got = [(tuple(c.kernel_size), c.filters, tuple(c.strides), c.padding) for c in convs]
    want = [((3, 3), filters, (s, s), "same"), ((3, 3), filters, (1, 1), "same")]
    if got != want:
        hint = "both convolutions are 3x3 with `filters` filters and padding='same'; the first one has strides=(s, s)"
        if [g[2] for g in got] == [(1, 1), (s, s)] and s != 1:
            hint = "the stride belongs on the first 3x3 convolution, so the second one works at the new size"
        elif s != 1 and all(g[2] == (1, 1) for g in got):
            hint = "the stride s is ignored: pass strides=(s, s) to the first Conv2D"
        raise failure(ex, "the main path's convolutions (kernel, filters, strides, padding)", want, got, hint)
    if projection:
        sc = shortcut[0]
        got_sc = (tuple(sc.kernel_size), sc.filters, tuple(sc.strides))
        expect(got_sc == ((1, 1), filters, (s, s)), ex, "the shortcut's Conv2D (kernel, filters, strides)",
               ((1, 1), filters, (s, s)), got_sc, "the shortcut must produce the main path's shape: `filters` "
               "filters, 1x1 kernel, stride s")
    check_conv_bias_and_bn(ex, convs + [op for op in shortcut if kind(op) == "conv"],
                           [op for op in main + shortcut if kind(op) == "bn"])


def _basic_config(shape, filters, s) -> str:
    return f"X of shape {fmt_shape((None,) + tuple(shape))}, filters={filters}, s={s}"


def basic_block_test(target):
    """Check ``basic_block(X, filters, s, initializer)``: its layers, shapes and values in both BatchNorm modes."""
    __tracebackhide__ = True
    ex = "basic_block"
    with guarded(ex):
        expect_untampered(ex)
        keras = lazy_keras()
        fixtures = load_fixtures(exercise=ex)
        init = deterministic_initializer()
        for i, (shape, filters, s) in enumerate(BASIC_CONFIGS):
            inp = keras.Input(shape)
            out = call_learner(ex, target, inp, filters=filters, s=s, initializer=init, timeout=limit("block"))
            expect_tensor(ex, out, inp)
            _check_basic_structure(ex, inp, out, filters, s)
            config = _basic_config(shape, filters, s)
            want = (None, -(-shape[0] // s), -(-shape[1] // s), filters)
            expect(tuple(out.shape) == want, ex, f"output shape for {config}", want, tuple(out.shape),
                   "height and width shrink by s (ceil(n / s)) and the block outputs `filters` channels")
            check_initializers(ex, out, init, config)
            key = fixture_key(ex, i)
            compare_modes(ex, keras.Model(inp, out), fixtures[fixture_key(key, "x")],
                          fixtures[fixture_key(key, "inference")], fixtures[fixture_key(key, "training")],
                          f"for {config}")
        passed(ex, f"layers, shapes and values in both BatchNorm modes for {len(BASIC_CONFIGS)} configurations")


def _reference_basic_block(keras, X, filters, s):
    """The basic block of He et al. (2015, Fig. 2 left; option B shortcuts), in keras.applications' conventions."""
    layers = keras.layers

    def bn(t):
        return layers.BatchNormalization(axis=3, epsilon=BN_EPSILON)(t)

    shortcut = X
    if s != 1 or X.shape[-1] != filters:
        shortcut = bn(layers.Conv2D(filters, 1, strides=s)(X))
    Y = layers.Activation("relu")(bn(layers.Conv2D(filters, 3, strides=s, padding="same")(X)))
    Y = bn(layers.Conv2D(filters, 3, padding="same")(Y))
    return layers.Activation("relu")(layers.Add()([Y, shortcut]))


def basic_block_hidden_test(target, seed=None):
    """Re-check ``basic_block`` on a fresh random configuration against the reference block."""
    __tracebackhide__ = True
    ex = "basic_block"
    seed = fresh_seed(seed)
    with guarded(ex):
        keras = lazy_keras()
        rng = np.random.default_rng(seed)
        filters, s, side = int(rng.integers(1, 7)), int(rng.integers(1, 3)), int(rng.integers(3, 9))
        channels = filters if rng.random() < 0.5 else int(rng.integers(1, 7))
        inp = keras.Input((side, side, channels))
        out = call_learner(ex, target, inp, filters=filters, s=s, initializer=keras.initializers.GlorotUniform,
                           timeout=limit("block"))
        expect_tensor(ex, out, inp)
        model = keras.Model(inp, out)
        ref_in = keras.Input((side, side, channels))
        reference = keras.Model(ref_in, _reference_basic_block(keras, ref_in, filters, s))
        randomize(reference, rng)
        config = _basic_config((side, side, channels), filters, s)
        copy_reference(ex, reference, model,
                       f"the block's layers against the reference block, one for one, for {config}",
                       "the visible test's configurations passed, so look for a detail that depends on the "
                       "filters, s or X's channels instead of using them")
        x = rng.normal(0, 1, (BATCH, side, side, channels)).astype("float32")
        compare_modes(ex, model, x, keras.ops.convert_to_numpy(reference(x, training=False)),
                      keras.ops.convert_to_numpy(reference(x, training=True)), f"for {config} (seed={seed})")
        passed(ex + " (hidden)", "values against the reference block on a fresh configuration")


def _make_basic_fixtures(solution, exercise) -> dict:
    """Inputs and outputs (both BatchNorm modes) of the reference basic block on each fixed configuration."""
    keras = lazy_keras()
    init = deterministic_initializer()
    out = {}
    for i, (shape, filters, s) in enumerate(exercise.fixtures.configs):
        inp = keras.Input(shape)
        model = keras.Model(inp, solution(inp, filters=filters, s=s, initializer=init))
        x = np.random.default_rng(exercise.seed(i)).normal(0, 1, (BATCH,) + shape).astype("float32")
        out[exercise.key(i, "x")] = x
        out[exercise.key(i, "inference")] = keras.ops.convert_to_numpy(model(x, training=False))
        out[exercise.key(i, "training")] = keras.ops.convert_to_numpy(model(x, training=True))
    return out


def _make_fixtures(solution, exercise) -> dict:
    """The parameter count of the reference ResNet50 for each fixed configuration."""
    return {exercise.key("params", "x".join(map(str, shape)), classes):
            np.array(solution(input_shape=shape, classes=classes).count_params(), dtype=np.int64)
            for shape, classes in exercise.fixtures.configs}


EXERCISES = (
    Exercise("ResNet50", "04_resnet50", 10, ResNet50_test, ResNet50_hidden_test,
             Fixtures(FIXTURES.name, _make_fixtures, tuple(RESNET_CONFIGS))),
    Exercise("basic_block", "04_resnet50", 10, basic_block_test, basic_block_hidden_test,
             Fixtures(FIXTURES.name, _make_basic_fixtures, tuple(BASIC_CONFIGS), seed=600)),
)
