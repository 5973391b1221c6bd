"""Checks for the course's exercises: ``<exercise>_test(target)``.

Each test takes the learner's function, runs it on fixed inputs and raises an
``AssertionError`` whose message says what was checked, expected vs got, and a
hint; when everything holds it prints one ``[PASS]`` line. The checks go from
the most specific to the most general: what the function returns, the layer
graph (order, kernel sizes, filters, strides, padding, the shortcut, the final
ReLU), output shapes for several configurations, and finally the numbers in
both BatchNorm modes against fixtures made from the reference solutions
(``python -m tools.make_fixtures``) or against ``keras.applications.ResNet50``.

``*_hidden_test`` functions re-check on fresh random configurations against
Keras's own ResNet code; the hidden part of each graded cell runs them through
``test_utils.hidden_test``, which first makes sure the notebook replaced none of
the tests' tools and reloads this module from disk.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from test_utils import (BN_EPSILON, call_learner, chain_back, describe, deterministic_initializer, expect,
                        expect_untampered, chain_text, failure, guarded, kind, kinds_with_fused, load_fixtures, passed,
                        producer, short)
from resnets_utils import walk_nodes

__all__ = ["identity_block_test", "convolutional_block_test", "ResNet50_test",
           "identity_block_hidden_test", "convolutional_block_hidden_test", "ResNet50_hidden_test",
           "IDENTITY_CONFIGS", "CONV_CONFIGS", "RESNET_CONFIGS", "BATCH"]

# Fixed configurations; the fixtures hold the reference outputs for each.
# (input shape without the batch axis, f, filters[, s])
IDENTITY_CONFIGS = [((5, 5, 6), 3, [2, 4, 6]), ((4, 4, 3), 2, [4, 2, 3])]
CONV_CONFIGS = [((8, 8, 6), 3, [2, 4, 5], 2), ((7, 7, 3), 2, [3, 2, 6], 1), ((9, 9, 4), 3, [2, 3, 5], 3)]
RESNET_CONFIGS = [((64, 64, 3), 6), ((96, 96, 3), 4)]
BATCH = 3
MAIN_PATH = ["conv", "bn", "relu", "conv", "bn", "relu", "conv", "bn"]
STAGES = [(3, 256), (4, 512), (6, 1024), (3, 2048)]    # (blocks, output channels) of conv2_x .. conv5_x
TOLERANCE = "|got - expected| <= 1e-4 + 1e-4 * max|expected|"
BLOCK_TIMEOUT = 120.0    # seconds a block function may take to build its layers
MODEL_TIMEOUT = 600.0    # seconds ResNet50 may take to build the model


def _keras():
    import keras

    return keras


def _close(got, expected) -> bool:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return False
    return float(np.max(np.abs(got - expected), initial=0.0)) <= 1e-4 + 1e-4 * float(np.max(np.abs(expected), initial=0.0))


def _fmt_shape(shape) -> str:
    return str(tuple(shape))


# --------------------------------------------------------------------------- what was returned
def _expect_tensor(ex, out, inp):
    __tracebackhide__ = True
    keras = _keras()
    if out is None:
        raise failure(ex, "the function returned None", "a Keras tensor", "None",
                      "end the function with `return X`")
    if isinstance(out, keras.Model):
        raise failure(ex, "the function returned a Keras Model", "a Keras tensor", describe(out),
                      "a block returns the output tensor X; only ResNet50 wraps tensors in keras.Model")
    if isinstance(out, (tuple, list)):
        raise failure(ex, "the function returned several values", "one Keras tensor", describe(out),
                      "return only the block's output tensor X")
    if not isinstance(out, keras.KerasTensor):
        raise failure(ex, "the function must return the symbolic Keras tensor produced by its layers",
                      "a Keras tensor", describe(out),
                      "apply Keras layers to X (e.g. X = layers.Conv2D(...)(X)) and return X; "
                      "don't compute with NumPy or call .numpy()")
    if out is inp or producer(out) is None:
        raise failure(ex, "the function returned its input unchanged", "the output of the final ReLU", "X itself",
                      "build the main path and the shortcut, add them, apply ReLU, and return the result")


def _expect_model(ex, model):
    __tracebackhide__ = True
    keras = _keras()
    if model is None:
        raise failure(ex, "the function returned None", "a keras.Model", "None",
                      "end the function with `return model`")
    if isinstance(model, keras.KerasTensor):
        raise failure(ex, "the function returned a tensor, not a model", "a keras.Model", describe(model),
                      "wrap it: model = keras.Model(inputs=X_input, outputs=X)")
    if not isinstance(model, keras.Model):
        raise failure(ex, "the function must return a keras.Model", "a keras.Model", describe(model),
                      "build the network from Keras layers and return keras.Model(inputs=X_input, outputs=X)")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise failure(ex, "the model must have one input and one output", "1 input, 1 output",
                      f"{len(model.inputs)} inputs, {len(model.outputs)} outputs",
                      "create one X_input = Input(input_shape) and return keras.Model(inputs=X_input, outputs=X)")


# --------------------------------------------------------------------------- block structure
def _branches(ex, add_node, block_input):
    """Chains of the two Add inputs back to the block input, shorter one (the shortcut) first."""
    __tracebackhide__ = True
    inputs = list(add_node.input_tensors)
    expect(len(inputs) == 2, ex, "the Add should join exactly two tensors (main path and shortcut)",
           2, len(inputs), "add the two paths once: layers.Add()([X, X_shortcut])")
    chains = []
    for t in inputs:
        ops, reached = chain_back(t, block_input)
        if not reached:
            raise failure(ex, "each input of the Add must lead back to the block's input X through one chain of layers",
                          "main path: X -> ... -> BatchNorm; shortcut: X_shortcut", f"an input made by {chain_text(kinds_with_fused(ops)[-1:])} "
                          "that does not come from X", "keep X_shortcut = X at the start and use each layer's output as "
                          "the next layer's input")
        chains.append(ops)
    chains.sort(key=len)
    if set(map(id, chains[0])) & set(map(id, chains[1])):
        raise failure(ex, "the shortcut and the main path share a layer", "separate layers", "a shared layer object",
                      "create a new layer for each step")
    return chains[0], chains[1]


def _check_block_structure(ex, inp, out, f, filters, s, identity):
    """Check the layer graph of one block (final ReLU, Add, shortcut, main path, conv settings, BatchNorm)."""
    __tracebackhide__ = True
    F1, F2, F3 = filters
    last_op, last_node = producer(out)
    last = kind(last_op)
    if last == "add":
        relu_first = any((p := producer(t)) is not None and kind(p[0]) == "relu" for t in last_node.input_tensors)
        hint = ("move the ReLU after the Add: the main path's last BatchNorm feeds the Add directly"
                if relu_first else "apply X = Activation('relu')(X) after adding the shortcut")
        raise failure(ex, "the block must end with a ReLU applied after the Add", "... -> Add -> ReLU",
                      "... -> ReLU -> Add" if relu_first else "... -> Add (no ReLU after it)", hint)
    expect(last == "relu", ex, "the block must end with a ReLU applied after the Add", "ReLU", last,
           "the last two steps are: add the shortcut, then ReLU")
    add_prod = producer(last_node.input_tensors[0])
    add_kind = kind(add_prod[0]) if add_prod else "the block input"
    expect(add_kind == "add", ex, "the final ReLU must be applied to the output of the Add", "ReLU(Add(...))",
           f"ReLU({add_kind})", "add the shortcut to the main path first, then apply the ReLU")
    adds = [op for op, _ in walk_nodes([out]) if kind(op) == "add"]
    expect(len(adds) == 1, ex, "a block has exactly one Add", 1, len(adds),
           "add the shortcut once, at the end of the block, just before the final ReLU")
    shortcut, main = _branches(ex, add_prod[1], inp)
    short_kinds, main_kinds = kinds_with_fused(shortcut), kinds_with_fused(main)

    if identity:
        expect(not shortcut, ex, "the shortcut of an identity block is X itself", "X_shortcut = X (no layers)",
               chain_text(short_kinds), "save X_shortcut = X before the main path and add it unchanged")
    else:
        if not shortcut:
            raise failure(ex, "the shortcut of a convolutional block needs its own Conv2D and BatchNormalization",
                          "X -> Conv2D(F3, 1x1, strides=s) -> BatchNormalization", "X unchanged",
                          "the projection shortcut matches the main path's shape: 1x1 conv with stride s, then BatchNorm")
        if short_kinds == ["conv"]:
            raise failure(ex, "the shortcut needs its own BatchNormalization after its 1x1 conv",
                          chain_text(["conv", "bn"]), chain_text(short_kinds),
                          "add X_shortcut = BatchNormalization(...)(X_shortcut)")
        expect(short_kinds == ["conv", "bn"], ex, "the shortcut is a 1x1 Conv2D followed by BatchNormalization",
               chain_text(["conv", "bn"]), chain_text(short_kinds), "X_shortcut = Conv2D(F3, 1, strides=s) then BatchNormalization")

    if main_kinds != MAIN_PATH:
        hint = "three steps, each Conv2D -> BatchNormalization (-> ReLU, except after the third)"
        if main_kinds == MAIN_PATH + ["relu"]:
            hint = "the ReLU comes after the Add: feed the third BatchNorm's output straight into the Add"
        elif any("fused" in k for k in main_kinds):
            hint = "Conv2D(activation='relu') applies ReLU before BatchNorm; use a separate ReLU after BatchNorm"
        elif sorted(main_kinds) == sorted(MAIN_PATH) and main_kinds.index("relu") < main_kinds.index("bn"):
            hint = "BatchNormalization comes before ReLU: Conv2D -> BatchNormalization -> ReLU"
        elif main_kinds.count("conv") != 3:
            hint = f"the main path has three Conv2D layers (1x1, {f}x{f}, 1x1); yours has {main_kinds.count('conv')}"
        raise failure(ex, "layers of the main path, in order", chain_text(MAIN_PATH), chain_text(main_kinds), hint)

    convs = [op for op in main if kind(op) == "conv"]
    bns = [op for op in main + shortcut if kind(op) == "bn"]
    got_k = [tuple(c.kernel_size) for c in convs]
    expect(got_k == [(1, 1), (f, f), (1, 1)], ex, "kernel sizes of the three main-path convolutions",
           [(1, 1), (f, f), (1, 1)], got_k, f"first and last are 1x1, the middle one is f x f = {f}x{f}")
    got_f = [c.filters for c in convs]
    if got_f != [F1, F2, F3]:
        hint = "use filters[0], filters[1], filters[2] in that order (F1, F2, F3)"
        if sorted(got_f) == sorted([F1, F2, F3]):
            hint = "the numbers are right but in the wrong order: conv 1 has F1, conv 2 has F2, conv 3 has F3"
        raise failure(ex, "numbers of filters of the three main-path convolutions", [F1, F2, F3], got_f, hint)
    got_s = [tuple(c.strides) for c in convs]
    want_s = [(s, s), (1, 1), (1, 1)]
    if got_s != want_s:
        hint = f"put strides=(s, s) on the first 1x1 conv only (s={s} here)"
        if got_s == [(1, 1), (s, s), (1, 1)] and s != 1:
            hint = ("this course follows He et al. (2015) and keras.applications: the stride sits on the first 1x1 "
                    "conv (ResNet 'v1.5' moves it to the 3x3 conv, a different network)")
        elif all(st == (1, 1) for st in got_s):
            hint = "the stride s is ignored: pass strides=(s, s) to the first Conv2D"
        raise failure(ex, "strides of the three main-path convolutions", want_s, got_s, hint)
    expect(convs[1].padding == "same", ex, f"padding of the middle {f}x{f} convolution", "'same'",
           repr(convs[1].padding), "padding='same' keeps the height and width so the Add's inputs match")
    if not identity:
        sc = shortcut[0]
        expect((tuple(sc.kernel_size), sc.filters, tuple(sc.strides)) == ((1, 1), F3, (s, s)), ex,
               "the shortcut's Conv2D (kernel, filters, strides)", ((1, 1), F3, (s, s)),
               (tuple(sc.kernel_size), sc.filters, tuple(sc.strides)),
               "the shortcut must produce the main path's shape: F3 filters, 1x1 kernel, stride s")
    no_bias = [i for i, c in enumerate(convs + [op for op in shortcut if kind(op) == "conv"]) if not c.use_bias]
    expect(not no_bias, ex, "every Conv2D keeps its bias (the Keras default)", "use_bias=True",
           "use_bias=False", "keras.applications.ResNet50 keeps the biases; leave use_bias at its default")
    axes = [b.axis if isinstance(b.axis, int) else tuple(b.axis) for b in bns]
    expect(all(a in (3, -1) for a in axes), ex, "BatchNormalization normalises the channels axis",
           "axis=3 (or -1)", axes, "use BatchNormalization(axis=3, ...)")
    eps = [float(b.epsilon) for b in bns]
    expect(all(abs(e - BN_EPSILON) < 1e-9 for e in eps), ex, "BatchNormalization epsilon",
           BN_EPSILON, sorted(set(eps)), "use BatchNormalization(axis=3, epsilon=1.001e-5), the value of keras.applications.ResNet50")


def _block_kwargs(identity, f, filters, s, initializer):
    kwargs = {"f": f, "filters": list(filters), "initializer": initializer}
    if not identity:
        kwargs["s"] = s
    return kwargs


def _expected_block_shape(shape, filters, s):
    h, w, _ = shape
    return (None, -(-h // s), -(-w // s), filters[2])


def _compare_modes(ex, model, x, expected_inference, expected_training, where):
    """Compare a model's outputs with a bare call, training=False and training=True."""
    __tracebackhide__ = True
    keras = _keras()
    bare = keras.ops.convert_to_numpy(model(x))
    inference = keras.ops.convert_to_numpy(model(x, training=False))
    if not _close(bare, expected_inference):
        hint = "compare your layers with the specification"
        if _close(bare, expected_training):
            hint = ("calling the model without `training` ran BatchNorm in training mode: don't pass training=True "
                    "to BatchNormalization; the mode must come from the call (fit, predict, model(x, training=...))")
        raise failure(ex, f"values {where} when called as model(x) (BatchNorm in inference mode)",
                      short(expected_inference), short(bare), hint)
    expect(_close(inference, expected_inference), ex, f"values {where} with training=False",
           short(expected_inference), short(inference), "compare your layers with the specification")
    training = keras.ops.convert_to_numpy(model(x, training=True))
    expect(_close(training, expected_training), ex, f"values {where} with training=True (batch statistics)",
           short(expected_training), short(training),
           "in training mode BatchNorm uses the batch's statistics; check that each BatchNorm follows its Conv2D "
           f"and that the shortcut is added before the final ReLU (tolerance: {TOLERANCE})")


def _block_test(ex, target, identity):
    __tracebackhide__ = True
    expect_untampered(ex)
    keras = _keras()
    fixtures = load_fixtures(exercise=ex)
    init = deterministic_initializer()
    configs = IDENTITY_CONFIGS if identity else CONV_CONFIGS
    for i, cfg in enumerate(configs):
        shape, f, filters = cfg[:3]
        s = 1 if identity else cfg[3]
        inp = keras.Input(shape)
        out = call_learner(ex, target, inp, **_block_kwargs(identity, f, filters, s, init), timeout=BLOCK_TIMEOUT)
        _expect_tensor(ex, out, inp)
        want = _expected_block_shape(shape, filters, s)
        _check_block_structure(ex, inp, out, f, filters, s, identity)
        config = f"X of shape {_fmt_shape((None,) + shape)}, f={f}, filters={filters}" + ("" if identity else f", s={s}")
        expect(tuple(out.shape) == want, ex, f"output shape for {config}", want, tuple(out.shape),
               "height and width shrink by s (ceil(n / s)) and the block outputs F3 channels")
        model = keras.Model(inp, out)
        key = f"{ex}__{i}"
        _compare_modes(ex, model, fixtures[f"{key}__x"], fixtures[f"{key}__inference"],
                       fixtures[f"{key}__training"], f"for {config}")
    passed(ex, f"layers, shapes and values in both BatchNorm modes for {len(configs)} configurations")


def identity_block_test(target):
    """Check ``identity_block(X, f, filters, initializer)``."""
    __tracebackhide__ = True
    with guarded("identity_block"):
        _block_test("identity_block", target, identity=True)


def convolutional_block_test(target):
    """Check ``convolutional_block(X, f, filters, s, initializer)``."""
    __tracebackhide__ = True
    with guarded("convolutional_block"):
        _block_test("convolutional_block", target, identity=False)


# --------------------------------------------------------------------------- hidden block tests
def _keras_reference_block(inp, f, F, s, identity):
    from keras.src.applications.resnet import residual_block_v1

    return residual_block_v1(inp, F, kernel_size=f, stride=s, conv_shortcut=not identity, name="reference")


def _randomize(model, rng):
    """Give every weight of ``model`` well-scaled random values (deterministic for ``rng``)."""
    for layer in model.layers:
        values = []
        for w in layer.weights:
            shape = tuple(w.shape)
            name = w.path.split("/")[-1]
            if name == "kernel":
                fan_in = int(np.prod(shape[:-1]))
                values.append(rng.normal(0, np.sqrt(2.0 / fan_in), shape))
            elif name == "bias":
                values.append(rng.normal(0, 0.05, shape))
            elif name == "gamma":
                small = layer.name.endswith("_3_bn")   # last BN of a residual branch: keeps activations scaled
                values.append(rng.uniform(0.1, 0.3, shape) if small else rng.uniform(0.8, 1.2, shape))
            elif name == "beta":
                values.append(rng.normal(0, 0.05, shape))
            elif name == "moving_mean":
                values.append(rng.normal(0, 0.1, shape))
            elif name == "moving_variance":
                values.append(rng.uniform(0.8, 1.5, shape))
            else:
                values.append(w.numpy())
        if values:
            layer.set_weights([v.astype("float32") for v in values])


def _hidden_block_test(ex, target, identity, seed):
    __tracebackhide__ = True
    import resnets_utils

    keras = _keras()
    rng = np.random.default_rng(seed)
    F = int(rng.integers(1, 5))
    f = int(rng.integers(1, 4))
    s = 1 if identity else int(rng.integers(1, 4))
    side = int(rng.integers(4, 10))
    channels = 4 * F if identity else int(rng.integers(2, 7))
    inp = keras.Input((side, side, channels))
    out = call_learner(ex, target, inp, **_block_kwargs(identity, f, [F, F, 4 * F], s, keras.initializers.GlorotUniform),
                       timeout=BLOCK_TIMEOUT)
    _expect_tensor(ex, out, inp)
    model = keras.Model(inp, out)
    ref_in = keras.Input((side, side, channels))
    reference = keras.Model(ref_in, _keras_reference_block(ref_in, f, F, s, identity))
    _randomize(reference, rng)
    try:
        resnets_utils.copy_weights(reference, model)
    except ValueError as exc:
        raise failure(ex, f"the block's layers against Keras's own block, one for one, on a fresh configuration "
                          f"(f={f}, filters={[F, F, 4 * F]}, s={s})", "the same layers with the same weight shapes",
                      str(exc), "the visible test's configurations passed, so look for a detail that depends on "
                                "f, the filters or s instead of using the arguments") from None
    x = rng.normal(0, 1, (BATCH, side, side, channels)).astype("float32")
    expected_inf = keras.ops.convert_to_numpy(reference(x, training=False))
    expected_train = keras.ops.convert_to_numpy(reference(x, training=True))
    _compare_modes(ex, model, x, expected_inf, expected_train,
                   f"on a fresh configuration (f={f}, filters={[F, F, 4 * F]}, s={s}, seed={seed})")
    passed(ex + " (hidden)", "values against Keras's own block on a fresh configuration")


def identity_block_hidden_test(target, seed=None):
    """Re-check ``identity_block`` on a fresh random configuration against Keras's block."""
    __tracebackhide__ = True
    seed = int(np.random.SeedSequence().entropy % 2**32) if seed is None else seed
    with guarded("identity_block"):
        _hidden_block_test("identity_block", target, True, seed)


def convolutional_block_hidden_test(target, seed=None):
    """Re-check ``convolutional_block`` on a fresh random configuration against Keras's block."""
    __tracebackhide__ = True
    seed = int(np.random.SeedSequence().entropy % 2**32) if seed is None else seed
    with guarded("convolutional_block"):
        _hidden_block_test("convolutional_block", target, False, seed)


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
    keras = _keras()
    reference = keras.applications.ResNet50(weights=None, input_shape=tuple(input_shape), classes=classes)
    _randomize(reference, np.random.default_rng(seed))
    return reference


def _probes(model):
    """A sub-model returning the output of the last Add of each stage, the pooled features and the output."""
    keras = _keras()
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
    import resnets_utils

    keras = _keras()
    reference = _reference_resnet(input_shape, classes, seed)
    try:
        resnets_utils.copy_weights(reference, model)
    except ValueError as exc:
        raise failure(ex, f"the layers against keras.applications.ResNet50 one for one, for input {tuple(input_shape)}",
                      "the same layers with the same weight shapes", str(exc),
                      "the layer named under 'got' is the first that differs from Keras's: compare its kernel size, "
                      "filters and bias with the table") from None
    names = ["stage conv2_x", "stage conv3_x", "stage conv4_x", "stage conv5_x", "pooled features", "output"]
    probe_m, probe_r = _probes(model), _probes(reference)
    x = np.random.default_rng(seed + 1).uniform(0, 1, (2,) + tuple(input_shape)).astype("float32")
    where = f"for input {tuple(input_shape)} and classes={classes}"
    bare = [keras.ops.convert_to_numpy(t) for t in probe_m(x)]
    for mode in (False, True):
        want = [keras.ops.convert_to_numpy(t) for t in probe_r(x, training=mode)]
        got = [keras.ops.convert_to_numpy(t) for t in probe_m(x, training=mode)]
        if not mode and not _close(bare[-1], want[-1]):
            raise failure(ex, f"model(x) without `training` {where} must run BatchNorm in inference mode",
                          short(want[-1]), short(bare[-1]),
                          "don't pass training=True to BatchNormalization inside the blocks or the model")
        for name, g, w in zip(names, got, want):
            if not _close(g, w):
                raise failure(ex, f"values after the {name} with training={mode}, {where}, after copying the weights "
                                  "of keras.applications.ResNet50 into your model", short(w), short(g),
                              f"the first difference appears at the {name}; compare that part with the specification "
                              f"(tolerance: {TOLERANCE})")


@contextmanager
def _keras_resnet_builds():
    """Record every model that Keras's own ResNet builder makes (``keras.applications.ResNet50``
    and its siblings all call ``keras.src.applications.resnet.ResNet``) while the learner's function runs."""
    from keras.src.applications import resnet

    built, original = [], resnet.ResNet

    def recording(*args, **kwargs):
        model = original(*args, **kwargs)
        built.append(model.name)
        return model

    resnet.ResNet = recording
    try:
        yield built
    finally:
        resnet.ResNet = original


def _resnet_test(ex, target, configs, seed):
    __tracebackhide__ = True
    expect_untampered(ex)
    fixtures = load_fixtures(exercise=ex)
    for i, (input_shape, classes) in enumerate(configs):
        with _keras_resnet_builds() as prebuilt:
            model = call_learner(ex, target, input_shape=input_shape, classes=classes, timeout=MODEL_TIMEOUT)
        if prebuilt:
            raise failure(ex, "the network must be built by your function, layer by layer",
                          "a model made of your stem, the blocks and the head",
                          f"a model made by keras.applications (Keras's ResNet builder ran and made '{prebuilt[0]}')",
                          "keras.applications.ResNet50 is the reference this test compares with, so returning it "
                          "proves nothing: build the stem, the stages from convolutional_block and identity_block, "
                          "and the head, as the table describes")
        _expect_model(ex, model)
        _check_resnet_structure(ex, model, input_shape, classes)
        key = f"{ex}__params__{input_shape[0]}x{input_shape[1]}x{input_shape[2]}__{classes}"
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
    seed = int(np.random.SeedSequence().entropy % 2**31) if seed is None else seed
    rng = np.random.default_rng(seed)
    side = int(rng.choice([48, 80, 112]))
    with guarded("ResNet50"):
        _resnet_test("ResNet50", target, [((side, side, 3), int(rng.integers(2, 12)))], seed)
