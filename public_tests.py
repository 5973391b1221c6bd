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

The residual-learning exercises (``unit_forward``, ``gradient_norms``,
``build_cnn``) compare with ``fixtures/residual_learning.npz``; their hidden
tests use units built from Keras layers, TensorFlow's automatic
differentiation, and the parameter count of the specification.

The BatchNorm exercises compare with ``keras.layers.BatchNormalization`` itself
(``batchnorm_forward``) and with the behaviour of a frozen model
(``freeze_batchnorm``).

The transfer-learning exercises port the weights of a headless
``keras.applications.ResNet50`` and compare features (``load_pretrained``), and
check a small ResNet-shaped pretrained model layer by layer before and after a
fit step (``build_transfer_model``, ``start_fine_tuning``).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import numpy as np

from test_utils import (BN_EPSILON, KIND_NAMES, RESIDUAL_FIXTURES, StudentTimeout, call_learner, chain_back, chain_text,
                        describe, deterministic_initializer, expect, expect_untampered, failure, fresh_seed,
                        fused_activation, guarded, kind, kinds_with_fused, load_fixtures, passed, producer, short,
                        time_limit)
from resnets_utils import copy_weights, walk_nodes

__all__ = ["identity_block_test", "convolutional_block_test", "ResNet50_test",
           "identity_block_hidden_test", "convolutional_block_hidden_test", "ResNet50_hidden_test",
           "unit_forward_test", "gradient_norms_test", "build_cnn_test",
           "unit_forward_hidden_test", "gradient_norms_hidden_test", "build_cnn_hidden_test",
           "batchnorm_forward_test", "freeze_batchnorm_test", "batchnorm_forward_hidden_test",
           "freeze_batchnorm_hidden_test", "BN_CONFIGS",
           "load_pretrained_test", "build_transfer_model_test", "start_fine_tuning_test",
           "load_pretrained_hidden_test", "build_transfer_model_hidden_test", "start_fine_tuning_hidden_test",
           "IDENTITY_CONFIGS", "CONV_CONFIGS", "RESNET_CONFIGS", "UNIT_CONFIGS", "CHAIN_CONFIGS", "CNN_CONFIGS", "BATCH", "preactivation_block_test", "preactivation_block_hidden_test", "grad_cam_test", "grad_cam_hidden_test",
           "block_summary_test", "block_summary_hidden_test", "SUMMARY_CONFIGS"]

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
            hint = ("this course follows keras.applications.ResNet50 (and the authors' released models): the stride "
                    "sits on the first 1x1 conv (ResNet 'v1.5' moves it to the 3x3 conv: same weight shapes, a "
                    "different network)")
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


def _recorded_training(model) -> list[str]:
    """Names of the layers that were called with ``training=True`` while the model was built."""
    return [op.name for op, node in walk_nodes(model.outputs)
            if getattr(getattr(node, "arguments", None), "kwargs", {}).get("training") is True]


def _compare_modes(ex, model, x, expected_inference, expected_training, where):
    """Compare a model's outputs with a bare call, training=False and training=True."""
    __tracebackhide__ = True
    keras = _keras()
    bare = keras.ops.convert_to_numpy(model(x))
    inference = keras.ops.convert_to_numpy(model(x, training=False))
    if not _close(bare, expected_inference):
        hint = "compare your layers with the specification"
        if _close(bare, expected_training) or _recorded_training(model):
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
    seed = fresh_seed(seed)
    with guarded("identity_block"):
        _hidden_block_test("identity_block", target, True, seed)


def convolutional_block_hidden_test(target, seed=None):
    """Re-check ``convolutional_block`` on a fresh random configuration against Keras's block."""
    __tracebackhide__ = True
    seed = fresh_seed(seed)
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
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    side = int(rng.choice([48, 80, 112]))
    with guarded("ResNet50"):
        _resnet_test("ResNet50", target, [((side, side, 3), int(rng.integers(2, 12)))], seed)


# =========================================================================== residual learning
# Fixed configurations of the NumPy exercises; the fixtures (fixtures/residual_learning.npz) hold
# the inputs and the reference outputs for each.
UNIT_CONFIGS = [(4, 5, 3), (3, 2, 6)]                    # (m, d, h)
CHAIN_CONFIGS = [(4, 8, 6, 12, 0.25), (3, 5, 7, 6, 1.0)]    # (m, d, h, units, scale of W2)
# (depth, residual, input_shape, classes, width)
CNN_CONFIGS = [(4, False, (12, 12, 3), 3, 4), (8, True, (16, 16, 3), 4, 3), (6, True, (9, 9, 2), 2, 2)]
CNN_STEM = ["conv", "bn", "relu", "maxpool"]
CNN_UNIT = {False: ["conv", "bn", "relu", "conv", "bn", "relu"], True: ["conv", "bn", "relu", "conv", "bn", "add", "relu"]}
CNN_HEAD = ["gap", "dense", "softmax"]
NUMPY_TIMEOUT = 60.0     # seconds a NumPy exercise may take on the test's small inputs
UNIT_FORMULA = "Z1 = X @ W1 + b1, A1 = ReLU(Z1), Z = A1 @ W2 + b2 (+ X if residual), Y = ReLU(Z)"
BACKWARD_FORMULA = ("backward through one unit: dZ = dY * (Z > 0); dZ1 = (dZ @ W2.T) * (Z1 > 0); "
                    "dX = dZ1 @ W1.T, plus dZ for a residual unit")


def _rel_close(got, expected, rtol=1e-4) -> bool:
    """Entry-wise relative comparison, for numbers that span many orders of magnitude."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return False
    floor = 1e-12 * float(np.max(np.abs(expected), initial=0.0))
    return bool(np.all(np.abs(got - expected) <= rtol * np.abs(expected) + floor))


def _expect_array(ex, out, shape, var, what):
    """The learner returned one array-like of ``shape`` (the variable ``var``, which is ``what``);
    returns it as float64."""
    __tracebackhide__ = True
    if out is None:
        raise failure(ex, "the function returned None", f"a NumPy array of shape {shape}", "None",
                      f"end the function with `return {var}`")
    if isinstance(out, tuple) and out and all(hasattr(o, "shape") for o in out):
        raise failure(ex, "the function returned several values", f"one NumPy array of shape {shape}", describe(out),
                      f"return only {var}, {what}")
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise failure(ex, "the function must return numbers", f"a NumPy array of shape {shape}", describe(out),
                      f"return {var} as a NumPy array") from None
    expect(arr.shape == tuple(shape), ex, "shape of what the function returned", tuple(shape), arr.shape,
           f"return {var}, {what}")
    expect(bool(np.all(np.isfinite(arr))), ex, "the returned values are finite numbers", "no NaN or inf",
           short(arr[~np.isfinite(arr)]))
    return arr


def _expect_unchanged(ex, before, after, names):
    __tracebackhide__ = True
    for name, a, b in zip(names, before, after):
        if not np.array_equal(np.asarray(a), np.asarray(b)):
            raise failure(ex, f"the function changed its argument {name}", "the caller's arrays unchanged",
                          f"{name} was modified in place",
                          f"build new arrays (new = {name} + ...) instead of changing an argument in place "
                          f"({name} += ..., {name}[...] = ...)")


def _unit_inputs(fixtures, key):
    return [fixtures[f"{key}__{n}"] for n in ("X", "W1", "b1", "W2", "b2")]


def _chain_params(fixtures, key):
    W1, b1, W2, b2 = (fixtures[f"{key}__{n}"] for n in ("W1", "b1", "W2", "b2"))
    return [(W1[i], b1[i], W2[i], b2[i]) for i in range(len(W1))]


# --------------------------------------------------------------------------- unit_forward
def _check_unit(ex, target, X, W1, b1, W2, b2, expected_plain, expected_residual, where):
    __tracebackhide__ = True
    args = [X, W1, b1, W2, b2]
    copies = [np.array(a, copy=True) for a in args]
    shape = X.shape
    for residual, want, other in ((False, expected_plain, expected_residual), (True, expected_residual, expected_plain)):
        got = _expect_array(ex, call_learner(ex, target, *args, residual=residual, timeout=NUMPY_TIMEOUT),
                            shape, "Y", "the unit's output of shape (m, d)")
        _expect_unchanged(ex, copies, args, ["X", "W1", "b1", "W2", "b2"])
        if _close(got, want):
            continue
        hint = f"compute {UNIT_FORMULA}"
        if _close(got, other):
            hint = ("residual=False is a plain unit: don't add X" if not residual else
                    "residual=True adds the input X to Z before the final ReLU")
        elif residual and _close(got, expected_plain + X):
            hint = "add X before the final ReLU, not after it: Y = ReLU(A1 @ W2 + b2 + X)"
        elif got.min() < 0:
            hint = "the unit ends with a ReLU, so its output is never negative: apply ReLU to Z last"
        raise failure(ex, f"output with residual={residual} {where}", short(want), short(got), hint)


def unit_forward_test(target):
    """Check ``unit_forward(X, W1, b1, W2, b2, residual)`` against the reference outputs."""
    __tracebackhide__ = True
    ex = "unit_forward"
    with guarded(ex):
        fixtures = load_fixtures(RESIDUAL_FIXTURES)
        for i, (m, d, h) in enumerate(UNIT_CONFIGS):
            key = f"{ex}__{i}"
            _check_unit(ex, target, *_unit_inputs(fixtures, key), fixtures[f"{key}__plain"],
                        fixtures[f"{key}__residual"], f"for X of shape {(m, d)}, W1 {(d, h)}, W2 {(h, d)}")
    passed(ex, f"plain and residual outputs for {len(UNIT_CONFIGS)} configurations")


def _dense(units, weights, activation=None):
    """A float64 Keras Dense layer holding the given kernel and bias."""
    keras = _keras()
    layer = keras.layers.Dense(units, activation=activation, dtype="float64")
    layer.build((None, weights[0].shape[0]))
    layer.set_weights([np.asarray(w, np.float64) for w in weights])
    return layer


def _keras_unit(W1, b1, W2, b2, residual):
    """The unit built from Keras layers (Dense, Add, ReLU), as a function of a tensor."""
    keras = _keras()
    first, second = _dense(W1.shape[1], (W1, b1), "relu"), _dense(W2.shape[1], (W2, b2))
    add, relu = keras.layers.Add(dtype="float64"), keras.layers.ReLU(dtype="float64")

    def apply(x):
        z = second(first(x))
        return relu(add([z, x]) if residual else z)

    return apply


def _random_chain(rng, m, d, h, units, scale):
    X = np.abs(rng.normal(0, 1, (m, d)))
    params = [(rng.normal(0, np.sqrt(2 / d), (d, h)), rng.normal(0, 0.1, h),
               rng.normal(0, scale * np.sqrt(2 / h), (h, d)), rng.normal(0, 0.1, d)) for _ in range(units)]
    return X, params, rng.normal(0, 1, (m, d))


def unit_forward_hidden_test(target, seed=None):
    """Re-check ``unit_forward`` on fresh random shapes against the unit built from Keras layers."""
    __tracebackhide__ = True
    ex = "unit_forward"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    m, d, h = (int(v) for v in rng.integers(2, 9, 3))
    X, params, _ = _random_chain(rng, m, d, h, 1, 1.0)
    with guarded(ex):
        keras = _keras()
        expected = [keras.ops.convert_to_numpy(_keras_unit(*params[0], residual)(X)) for residual in (False, True)]
        _check_unit(ex, target, X, *params[0], *expected, f"on fresh shapes (m={m}, d={d}, h={h}, seed={seed})")
    passed(ex + " (hidden)", "outputs against the unit built from Keras layers on fresh shapes")


# --------------------------------------------------------------------------- gradient_norms
def _check_norms(ex, target, X, params, dout, expected_plain, expected_residual, where):
    __tracebackhide__ = True
    args = [X, params, dout]
    copies = [np.array(X, copy=True), [tuple(np.array(w, copy=True) for w in p) for p in params],
              np.array(dout, copy=True)]
    units = len(params)
    for residual, want in ((False, expected_plain), (True, expected_residual)):
        got = _expect_array(ex, call_learner(ex, target, *args, residual=residual, timeout=NUMPY_TIMEOUT),
                            (units,), "norms", "one number per unit: the norm of dL/dx_l at the input of unit l")
        _expect_unchanged(ex, [copies[0], copies[2]], [X, dout], ["X", "dout"])
        for p_new, p_old in zip(params, copies[1]):
            _expect_unchanged(ex, p_old, p_new, ["W1", "b1", "W2", "b2"])
        if _rel_close(got, want):
            continue
        hint = BACKWARD_FORMULA
        if _rel_close(got[::-1], want):
            hint = ("the order is reversed: entry 0 is the gradient at the chain's input X (unit 0), "
                    "the last entry the gradient at the input of the last unit")
        elif _rel_close(got, want ** 2):
            hint = "return the norms (np.linalg.norm), not their squares"
        elif residual and got[0] < 1e-2 * want[0]:
            hint = ("the gradient of a residual unit has two paths: through the layers and through the shortcut, "
                    "whose Jacobian is the identity: dX = dZ1 @ W1.T + dZ")
        raise failure(ex, f"gradient norms with residual={residual} {where} (relative tolerance 1e-4)",
                      short(want, 6, ".2e"), short(got, 6, ".2e"), hint)


def gradient_norms_test(target):
    """Check ``gradient_norms(X, params, dout, residual)`` against the reference norms."""
    __tracebackhide__ = True
    ex = "gradient_norms"
    with guarded(ex):
        fixtures = load_fixtures(RESIDUAL_FIXTURES)
        for i, (m, d, h, units, _) in enumerate(CHAIN_CONFIGS):
            key = f"{ex}__{i}"
            _check_norms(ex, target, fixtures[f"{key}__X"], _chain_params(fixtures, key), fixtures[f"{key}__dout"],
                         fixtures[f"{key}__plain"], fixtures[f"{key}__residual"],
                         f"for a chain of {units} units (X of shape {(m, d)}, hidden width {h})")
    passed(ex, f"plain and residual chains, {len(CHAIN_CONFIGS)} configurations")


def _autodiff_norms(X, params, dout, residual):
    """Norms of dL/dx_l computed by TensorFlow's automatic differentiation through Keras layers."""
    import tensorflow as tf

    units = [_keras_unit(*p, residual) for p in params]
    x = tf.constant(X, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        inputs = []
        for unit in units:
            inputs.append(x)
            x = unit(x)
    grads = tape.gradient(x, inputs, output_gradients=tf.constant(dout, tf.float64))
    return np.array([np.linalg.norm(g.numpy()) for g in grads])


def gradient_norms_hidden_test(target, seed=None):
    """Re-check ``gradient_norms`` on a fresh random chain against automatic differentiation."""
    __tracebackhide__ = True
    ex = "gradient_norms"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    m, d, h = (int(v) for v in rng.integers(2, 7, 3))
    units, scale = int(rng.integers(3, 16)), float(rng.choice([0.25, 0.5, 1.0, 1.5]))
    X, params, dout = _random_chain(rng, m, d, h, units, scale)
    with guarded(ex):
        expected = [_autodiff_norms(X, params, dout, residual) for residual in (False, True)]
        _check_norms(ex, target, X, params, dout, *expected,
                     f"for a fresh chain of {units} units (m={m}, d={d}, h={h}, seed={seed})")
    passed(ex + " (hidden)", "norms against automatic differentiation on a fresh chain")


# --------------------------------------------------------------------------- build_cnn
def _longest(tensor, cache) -> int:
    prod = producer(tensor)
    if prod is None:
        return 0
    key = id(prod[1])
    if key not in cache:
        cache[key] = 1 + max((_longest(t, cache) for t in prod[1].input_tensors), default=0)
    return cache[key]


def _spine(ex, model):
    """The operations from the input to the output, following the longer branch at each Add.

    Returns ``[(op, node, shortcut)]`` in forward order; ``shortcut`` is the other input
    of an Add, ``None`` elsewhere.
    """
    __tracebackhide__ = True
    cache, steps, tensor = {}, [], model.outputs[0]
    while (prod := producer(tensor)) is not None:
        op, node = prod
        inputs = list(node.input_tensors)
        if len(inputs) == 1:
            steps.append((op, node, None))
            tensor = inputs[0]
            continue
        if kind(op) != "add" or len(inputs) != 2:
            raise failure(ex, "every layer takes one input, except the Add of a residual unit",
                          "one input per layer, two per Add", f"{type(op).__name__} with {len(inputs)} inputs",
                          "apply each layer to the previous layer's output")
        main = max(inputs, key=lambda t: _longest(t, cache))
        shortcut = inputs[1] if main is inputs[0] else inputs[0]
        steps.append((op, node, shortcut))
        tensor = main
    return steps[::-1]


def _cnn_kinds(steps):
    kinds = kinds_with_fused([op for op, _, _ in steps])
    return ["softmax" if k == "softmax (fused into the Dense)" else k for k in kinds]


def _cnn_units(depth):
    return (depth - 2) // 2


def _check_cnn_structure(ex, model, depth, residual, input_shape, classes, width):
    __tracebackhide__ = True
    keras = _keras()
    call = f"build_cnn(depth={depth}, residual={residual}, width={width})"
    expect(tuple(model.input_shape) == (None,) + tuple(input_shape), ex, f"the model's input shape for {call}",
           (None,) + tuple(input_shape), tuple(model.input_shape), "X_input = keras.Input(input_shape)")
    expect(tuple(model.output_shape) == (None, classes), ex, f"the model's output shape for classes={classes}",
           (None, classes), tuple(model.output_shape), "the head is GlobalAveragePooling2D -> Dense(classes, softmax)")
    steps = _spine(ex, model)
    kinds = _cnn_kinds(steps)
    units = _cnn_units(depth)
    adds = kinds.count("add")
    if not residual and adds:
        raise failure(ex, f"{call} builds a plain network: no Add", "no Add", f"{adds} Add layers",
                      "add the shortcut only when residual is True")
    if residual and not adds:
        raise failure(ex, f"{call}: every unit adds its input (the shortcut) before its last ReLU",
                      f"{units} Add layers", "no Add", "if residual: X = layers.Add()([X, X_shortcut])")
    convs = kinds.count("conv")
    expect(convs == 1 + 2 * units, ex, f"number of Conv2D layers for depth={depth}", 1 + 2 * units, convs,
           f"depth counts the layers with weights: 1 stem Conv2D + 2 per unit + 1 Dense, so depth={depth} "
           f"means (depth - 2) // 2 = {units} unit{'s' if units != 1 else ''}")
    want = CNN_STEM + CNN_UNIT[residual] * units + CNN_HEAD
    if kinds != want:
        hint = "stem: Conv2D -> BatchNormalization -> ReLU -> MaxPooling2D; each unit: Conv2D -> BatchNormalization -> ReLU -> Conv2D -> BatchNormalization (-> Add) -> ReLU"
        text = " ".join(kinds)
        if "bn relu add" in text or (residual and "add relu" not in text):
            hint = "the unit's last ReLU comes after the Add: Conv2D -> BatchNormalization -> Add -> ReLU"
        elif any("fused" in k for k in kinds):
            hint = "Conv2D(activation='relu') applies ReLU before BatchNorm; use a separate ReLU after the BatchNormalization"
        elif "relu bn" in text:
            hint = "BatchNormalization comes before ReLU: Conv2D -> BatchNormalization -> ReLU"
        elif "bn" not in kinds:
            hint = "every Conv2D is followed by BatchNormalization()"
        elif kinds[-3:] != CNN_HEAD:
            hint = "the head is GlobalAveragePooling2D() -> Dense(classes, activation='softmax')"
            if "flatten" in kinds:
                hint = "use GlobalAveragePooling2D() instead of Flatten before the Dense layer"
        elif kinds[:4] != CNN_STEM:
            hint = "the stem is Conv2D(width, 3x3, strides=2) -> BatchNormalization -> ReLU -> MaxPooling2D((2, 2))"
        raise failure(ex, f"layers from input to output for {call}", chain_text(want), chain_text(kinds), hint)
    for u in range(units if residual else 0):
        first = 4 + len(CNN_UNIT[True]) * u
        unit_input = steps[first][1].input_tensors[0]
        shortcut = steps[first + 5][2]
        if shortcut is not unit_input:
            ops, _ = chain_back(shortcut, unit_input)
            got = chain_text(kinds_with_fused(ops)) if ops else "a tensor that is not the unit's input"
            raise failure(ex, f"the shortcut of unit {u + 1} must be that unit's own input",
                          "X_shortcut = the tensor the unit's first Conv2D reads", got,
                          "save X_shortcut = X at the start of each unit, inside the loop")
    ops = [op for op, _, _ in steps]
    convs = [op for op in ops if kind(op) == "conv"]
    got = [(tuple(c.kernel_size), tuple(c.strides), c.filters, c.padding, bool(c.use_bias)) for c in convs]
    want_convs = [((3, 3), (2, 2), width, "same", True)] + [((3, 3), (1, 1), width, "same", True)] * (2 * units)
    if got != want_convs:
        i = next(i for i, (g, w) in enumerate(zip(got, want_convs)) if g != w)
        where = "the stem Conv2D" if i == 0 else f"Conv2D {i} (unit {(i + 1) // 2})"
        raise failure(ex, f"settings of {where}: (kernel, strides, filters, padding, use_bias)", want_convs[i], got[i],
                      "Conv2D(width, (3, 3), padding='same'), with strides=(2, 2) only in the stem, and the bias kept")
    pool = ops[3]
    expect((tuple(pool.pool_size), tuple(pool.strides)) == ((2, 2), (2, 2)), ex, "the stem's max-pool (pool_size, strides)",
           ((2, 2), (2, 2)), (tuple(pool.pool_size), tuple(pool.strides)), "MaxPooling2D((2, 2))")
    bns = [op for op in ops if kind(op) == "bn"]
    got_bn = sorted({(b.axis if isinstance(b.axis, int) else tuple(b.axis), float(b.momentum), float(b.epsilon))
                     for b in bns})
    ok = all(a in (-1, 3, len(input_shape)) for a, _, _ in got_bn) and all(
        abs(mo - 0.99) < 1e-9 and abs(e - 1e-3) < 1e-12 for _, mo, e in got_bn)
    expect(ok, ex, "BatchNormalization settings (axis, momentum, epsilon)", [(-1, 0.99, 0.001)], got_bn,
           "use BatchNormalization() with its defaults")
    dense = ops[-2] if kind(ops[-1]) == "softmax" and not isinstance(ops[-1], keras.layers.Dense) else ops[-1]
    expect(bool(dense.use_bias), ex, "the Dense layer keeps its bias", True, False, "leave use_bias at its default")


def _expect_depth_error(ex, target, depth, residual):
    __tracebackhide__ = True
    try:
        with time_limit(BLOCK_TIMEOUT):
            out = target(depth=depth, residual=residual, input_shape=(8, 8, 3), classes=2, width=2)
    except ValueError:
        return
    except NotImplementedError:
        raise failure(ex, "the function is not implemented yet (it raised NotImplementedError)",
                      hint="replace `raise NotImplementedError()` with your code, then run its cell again") from None
    except StudentTimeout:
        raise failure(ex, f"the function did not return within {BLOCK_TIMEOUT:g} seconds") from None
    except Exception as exc:  # noqa: BLE001
        raise failure(ex, f"build_cnn(depth={depth}) must raise ValueError", "ValueError",
                      f"{type(exc).__name__}: {str(exc).strip()[:120]}",
                      "check depth first: if depth % 2 or depth < 4: raise ValueError(...)") from None
    raise failure(ex, f"build_cnn(depth={depth}) must raise ValueError (depth is an even number, at least 4)",
                  "ValueError", describe(out), "check depth first: if depth % 2 or depth < 4: raise ValueError(...)")


def _cnn_params(depth, input_shape, classes, width):
    """Parameters of the specified network, counted from the specification (not from a model)."""
    units = _cnn_units(depth)
    conv = lambda c_in: 9 * c_in * width + width   # noqa: E731 - 3x3 kernel and bias
    bn = 4 * width                                 # gamma, beta, moving mean, moving variance
    return conv(input_shape[-1]) + bn + units * 2 * (conv(width) + bn) + width * classes + classes


def _build_cnn(ex, target, depth, residual, input_shape, classes, width, initializer):
    __tracebackhide__ = True
    model = call_learner(ex, target, depth=depth, residual=residual, input_shape=input_shape, classes=classes,
                         width=width, initializer=initializer, timeout=BLOCK_TIMEOUT)
    _expect_model(ex, model)
    _check_cnn_structure(ex, model, depth, residual, input_shape, classes, width)
    want = _cnn_params(depth, input_shape, classes, width)
    expect(model.count_params() == want, ex, f"number of parameters for depth={depth}, width={width}, classes={classes}",
           f"{want:,}", f"{model.count_params():,}", "compare your layers with the specification table")
    return model


def build_cnn_test(target):
    """Check ``build_cnn(depth, residual, input_shape, classes, width, initializer)``."""
    __tracebackhide__ = True
    ex = "build_cnn"
    with guarded(ex):
        fixtures = load_fixtures(RESIDUAL_FIXTURES)
        init = deterministic_initializer()
        for depth in (5, 2):
            _expect_depth_error(ex, target, depth, residual=True)
        for i, (depth, residual, input_shape, classes, width) in enumerate(CNN_CONFIGS):
            model = _build_cnn(ex, target, depth, residual, input_shape, classes, width, init)
            key = f"{ex}__{i}"
            expect(model.count_params() == int(fixtures[f"{key}__params"]), ex, "number of parameters",
                   int(fixtures[f"{key}__params"]), model.count_params())
            _compare_modes(ex, model, fixtures[f"{key}__x"], fixtures[f"{key}__inference"], fixtures[f"{key}__training"],
                           f"for build_cnn(depth={depth}, residual={residual}, input_shape={input_shape}, "
                           f"classes={classes}, width={width})")
    passed(ex, f"depth check, layers, shortcuts, parameters and values in both BatchNorm modes for "
               f"{len(CNN_CONFIGS)} configurations")


def build_cnn_hidden_test(target, seed=None):
    """Re-check ``build_cnn`` on a fresh configuration: layers, shortcuts, parameter count, outputs."""
    __tracebackhide__ = True
    ex = "build_cnn"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    depth = 2 * int(rng.integers(2, 7))
    input_shape = (int(rng.integers(8, 21)),) * 2 + (int(rng.integers(1, 5)),)
    classes, width = int(rng.integers(2, 8)), int(rng.integers(2, 7))
    keras = _keras()
    with guarded(ex):
        _expect_depth_error(ex, target, depth + 1, residual=bool(rng.integers(2)))
        for residual in (False, True):
            model = _build_cnn(ex, target, depth, residual, input_shape, classes, width, keras.initializers.HeNormal)
            x = rng.uniform(0, 1, (BATCH,) + input_shape).astype("float32")
            bare, inference = (keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(model(x, training=False)))
            expect(_close(bare, inference), ex, "model(x) without `training` runs BatchNorm in inference mode",
                   short(inference), short(bare), "don't pass training=True to BatchNormalization")
            expect(_close(inference.sum(axis=1), np.ones(BATCH)), ex, "each row of the output is a probability "
                   "distribution", "rows summing to 1", short(inference.sum(axis=1)), "Dense(classes, activation='softmax')")
    passed(ex + " (hidden)", f"a fresh configuration (depth={depth}, width={width}, input {input_shape}, seed={seed})")


# =========================================================================== BatchNorm
# (input shape, momentum, epsilon); the expected values come from keras.layers.BatchNormalization itself.
BN_CONFIGS = [((6, 3), 0.99, 1e-3), ((4, 3, 3, 2), 0.9, 0.5), ((2, 5, 4), 0.8, 1e-2)]
BN_FORMULA = "out = gamma * (x - mean) / sqrt(var + epsilon) + beta, with mean and var per channel (last axis)"


def _bn_case(rng, shape):
    """Input, gamma, beta and moving statistics that differ clearly from the batch's statistics."""
    C = shape[-1]
    x = rng.normal(rng.uniform(-2, 2, C), rng.uniform(0.3, 2.0, C), shape)
    return (x, rng.uniform(0.5, 1.5, C), rng.normal(0, 0.5, C), rng.normal(0, 1, C), rng.uniform(0.5, 2.0, C))


def _keras_batchnorm(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon):
    """Output and moving statistics after one call of keras.layers.BatchNormalization (float64)."""
    keras = _keras()
    layer = keras.layers.BatchNormalization(axis=-1, momentum=momentum, epsilon=epsilon, dtype="float64")
    layer.build(x.shape)
    layer.set_weights([np.asarray(w, np.float64) for w in (gamma, beta, moving_mean, moving_var)])
    out = keras.ops.convert_to_numpy(layer(x, training=training))
    return out, layer.moving_mean.numpy(), layer.moving_variance.numpy()


def _bn_formula(x, gamma, beta, mean, var, epsilon, outside=False):
    """BatchNorm's output for given statistics; ``outside`` puts epsilon outside the square root (a mistake)."""
    scale = np.sqrt(var) + epsilon if outside else np.sqrt(var + epsilon)
    return gamma * (x - mean) / scale + beta


def _expect_bn_result(ex, out, shape):
    __tracebackhide__ = True
    C = shape[-1]
    if out is None:
        raise failure(ex, "the function returned None", "(out, new_moving_mean, new_moving_var)", "None",
                      "end the function with `return out, new_moving_mean, new_moving_var`")
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        got = describe(out) if not isinstance(out, (tuple, list)) else f"{len(out)} values"
        raise failure(ex, "the function returns three values", "(out, new_moving_mean, new_moving_var)", got,
                      "return out, new_moving_mean, new_moving_var (also in inference mode)")
    arrays = []
    for value, name, want in zip(out, ("out", "new_moving_mean", "new_moving_var"), (tuple(shape), (C,), (C,))):
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise failure(ex, f"{name} must be numbers", f"a NumPy array of shape {want}", describe(value)) from None
        hint = ("statistics are per channel: average over every axis except the last, "
                "axis=tuple(range(x.ndim - 1))" if name != "out" else "out has the shape of x")
        expect(arr.shape == want, ex, f"shape of {name} for x of shape {tuple(shape)}", want, arr.shape, hint)
        arrays.append(arr)
    return arrays


def _check_batchnorm(ex, target, case, momentum, epsilon, where):
    __tracebackhide__ = True
    x, gamma, beta, mm, mv = case
    names = ["x", "gamma", "beta", "moving_mean", "moving_var"]
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    ref_train = _keras_batchnorm(x, gamma, beta, mm, mv, True, momentum, epsilon)
    ref_infer = _keras_batchnorm(x, gamma, beta, mm, mv, False, momentum, epsilon)
    settings = f"momentum={momentum}, epsilon={epsilon}"

    # Inference mode: moving statistics, nothing updated.
    copies = [np.array(a, copy=True) for a in case]
    result = call_learner(ex, target, *case, training=False, momentum=momentum, epsilon=epsilon, timeout=NUMPY_TIMEOUT)
    _expect_unchanged(ex, copies, case, names)
    out, new_mm, new_mv = _expect_bn_result(ex, result, x.shape)
    if not _close(out, ref_infer[0]):
        hint = f"at inference, {BN_FORMULA.replace('mean and var per channel (last axis)', 'mean = moving_mean, var = moving_var')}"
        if _close(out, ref_train[0]):
            hint = ("with training=False BatchNorm normalises with the moving statistics, not with the batch's "
                    "own mean and variance")
        elif _close(out, _bn_formula(x, gamma, beta, mm, mv, epsilon, outside=True)):
            hint = "epsilon goes inside the square root: (x - mean) / sqrt(var + epsilon)"
        raise failure(ex, f"out with training=False {where} ({settings})", short(ref_infer[0]), short(out), hint)
    if not (_close(new_mm, mm) and _close(new_mv, mv)):
        hint = "return moving_mean and moving_var unchanged when training is False"
        if _close(new_mm, ref_train[1]):
            hint = ("the moving statistics are updated only in training mode; with training=False "
                    "return them unchanged")
        raise failure(ex, f"moving statistics returned with training=False {where}",
                      f"unchanged: mean {short(mm)}, var {short(mv)}", f"mean {short(new_mm)}, var {short(new_mv)}", hint)

    # Training mode: batch statistics, moving statistics updated.
    copies = [np.array(a, copy=True) for a in case]
    result = call_learner(ex, target, *case, training=True, momentum=momentum, epsilon=epsilon, timeout=NUMPY_TIMEOUT)
    _expect_unchanged(ex, copies, case, names)
    out, new_mm, new_mv = _expect_bn_result(ex, result, x.shape)
    m = int(np.prod(x.shape[:-1]))      # values per channel
    if not _close(out, ref_train[0]):
        hint = f"in training mode, {BN_FORMULA}, over every axis except the last"
        if _close(out, _bn_formula(x, gamma, beta, mean, var * m / (m - 1), epsilon)):
            hint = ("use the biased variance (divide by the number of values, np.var's default ddof=0), "
                    "as Keras does; ddof=1 is what PyTorch stores in its running variance, not what it normalises with")
        elif _close(out, _bn_formula(x, gamma, beta, mean, var, epsilon, outside=True)):
            hint = "epsilon goes inside the square root: (x - mean) / sqrt(var + epsilon)"
        elif _close(out, ref_infer[0]):
            hint = "with training=True BatchNorm normalises with the batch's own mean and variance, not the moving ones"
        raise failure(ex, f"out with training=True {where} ({settings})", short(ref_train[0]), short(out), hint)
    for got, want, old, stat, name in ((new_mm, ref_train[1], mm, mean, "new_moving_mean"),
                                       (new_mv, ref_train[2], mv, var, "new_moving_var")):
        if _close(got, want):
            continue
        hint = "new = momentum * moving + (1 - momentum) * batch statistic"
        if _close(got, (1 - momentum) * old + momentum * stat):
            hint = ("momentum weights the OLD moving average: new = momentum * moving + (1 - momentum) * batch "
                    "statistic (with momentum=0.99 each batch moves it by 1 %)")
        elif name == "new_moving_var" and _close(got, momentum * old + (1 - momentum) * stat * m / (m - 1)):
            hint = "Keras updates the moving variance with the same biased batch variance it normalises with (ddof=0)"
        elif _close(got, old):
            hint = "with training=True the moving statistics move towards the batch's statistics"
        raise failure(ex, f"{name} with training=True {where} ({settings})", short(want), short(got), hint)


def batchnorm_forward_test(target):
    """Check ``batchnorm_forward`` against keras.layers.BatchNormalization in both modes."""
    __tracebackhide__ = True
    ex = "batchnorm_forward"
    with guarded(ex):
        for i, (shape, momentum, epsilon) in enumerate(BN_CONFIGS):
            case = _bn_case(np.random.default_rng(600 + i), shape)
            _check_batchnorm(ex, target, case, momentum, epsilon, f"for x of shape {shape}")
        x, gamma, beta, mm, mv = _bn_case(np.random.default_rng(610), (5, 2))
        ref = _keras_batchnorm(x, gamma, beta, mm, mv, True, 0.99, 1e-3)
        result = call_learner(ex, target, x, gamma, beta, mm, mv, training=True, timeout=NUMPY_TIMEOUT)
        out, new_mm, new_mv = _expect_bn_result(ex, result, x.shape)
        expect(_close(out, ref[0]) and _close(new_mm, ref[1]) and _close(new_mv, ref[2]), ex,
               "results with the default momentum and epsilon", "momentum=0.99, epsilon=1e-3 (the Keras defaults)",
               f"out {short(out)}", "keep the defaults of the signature: momentum=0.99, epsilon=1e-3")
    passed(ex, f"outputs and moving statistics in both modes against keras.layers.BatchNormalization, "
               f"{len(BN_CONFIGS)} configurations")


def batchnorm_forward_hidden_test(target, seed=None):
    """Re-check ``batchnorm_forward`` on a fresh shape, momentum and epsilon against Keras."""
    __tracebackhide__ = True
    ex = "batchnorm_forward"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(2, 6, int(rng.integers(2, 5))))
    momentum, epsilon = float(rng.choice([0.5, 0.9, 0.99])), float(rng.choice([1e-3, 0.1, 1.0]))
    with guarded(ex):
        _check_batchnorm(ex, target, _bn_case(rng, shape), momentum, epsilon, f"for a fresh x of shape {shape} (seed={seed})")
    passed(ex + " (hidden)", "a fresh shape, momentum and epsilon against keras.layers.BatchNormalization")


# --------------------------------------------------------------------------- freeze_batchnorm
def _freeze_probe(rng, names):
    """A model with BatchNorm layers at the top level, in a nested Sequential and two models deep.

    Returns ``(model, bns, others, nested)``: the BatchNorm layers with where they sit, the other
    layers, and the nested models.
    """
    keras = _keras()
    L = keras.layers
    n = lambda stem: f"{stem}_{names.pop()}"   # noqa: E731 - unique names that don't say 'batch_normalization'
    seq = keras.Sequential([L.Input((6, 6, 4)), L.Conv2D(4, 3, padding="same", name=n("conv")),
                            L.BatchNormalization(name=n("norm")), L.ReLU()], name=n("sequential"))
    deep_in = keras.Input((6, 6, 4))
    deepest = keras.Model(deep_in, L.BatchNormalization(name=n("norm"))(L.Conv2D(4, 1, name=n("conv"))(deep_in)),
                          name=n("inner"))
    mid_in = keras.Input((6, 6, 4))
    middle = keras.Model(mid_in, L.Activation("relu")(deepest(mid_in)), name=n("outer"))
    inp = keras.Input((6, 6, 3))
    default_bn, named_bn = L.BatchNormalization(), L.BatchNormalization(name=n("norm"))
    x = L.Conv2D(4, 3, padding="same", name=n("conv"))(inp)
    x = named_bn(default_bn(x))
    x = middle(seq(x))
    x = L.LayerNormalization()(x)
    out = L.Dense(3)(L.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, out)
    bns = [(default_bn, ""), (named_bn, ""), (seq.layers[1], f" (inside the nested model '{seq.name}')"),
           (deepest.layers[-1], f" (inside the nested models '{middle.name}' > '{deepest.name}')")]
    for bn, _ in bns:
        C = bn.moving_mean.shape[0]
        bn.set_weights([rng.uniform(0.5, 1.5, C), rng.normal(0, 0.3, C), rng.normal(0, 1, C), rng.uniform(0.2, 3, C)])
    others = [layer for layer in model.layers + seq.layers + deepest.layers
              if layer.weights and not isinstance(layer, L.BatchNormalization) and not hasattr(layer, "layers")]
    return model, bns, others, [seq, middle, deepest]


def _bn_state(bns):
    return [np.concatenate([np.ravel(w) for w in bn.get_weights()]) for bn, _ in bns]


def _check_freeze(ex, target, seed):
    __tracebackhide__ = True
    keras = _keras()
    rng = np.random.default_rng(seed)
    names = [str(v) for v in rng.permutation(900) + 100]
    model, bns, others, nested = _freeze_probe(rng, names)
    count = call_learner(ex, target, model, timeout=BLOCK_TIMEOUT)
    for bn, where in bns:
        if bn.trainable:
            hint = "set layer.trainable = False on every BatchNormalization layer"
            if float(bn.momentum) == 1.0:
                hint = ("momentum=1 only stops the moving averages; in training mode the layer would still normalise "
                        "with the batch's statistics and train gamma and beta. Set layer.trainable = False instead")
            elif where:
                hint = ("look inside nested models too: a layer that has its own .layers is a model; "
                        "visit its layers the same way (recursion)")
            elif "batch_normalization" not in bn.name:
                hint = "find BatchNorm layers by type, isinstance(layer, keras.layers.BatchNormalization), not by name"
            raise failure(ex, f"BatchNormalization layer '{bn.name}'{where} is still trainable", "trainable=False",
                          "trainable=True", hint)
    frozen = [layer for layer in others + nested if not layer.trainable]
    if frozen:
        hint = "set trainable=False on each BatchNormalization layer only; the other layers keep training"
        if any(hasattr(layer, "layers") for layer in frozen) or not model.trainable:
            hint = ("trainable=False on a model freezes every layer inside it; set it on the BatchNormalization "
                    "layers themselves")
        raise failure(ex, "only BatchNormalization layers are frozen", "every other layer keeps trainable=True",
                      ", ".join(f"'{layer.name}' ({type(layer).__name__})" for layer in frozen[:3])
                      + (" have" if len(frozen) > 1 else " has") + " trainable=False",
                      hint)
    expect(model.trainable, ex, "the model itself stays trainable", True, False, "don't set model.trainable")
    if count is None:
        raise failure(ex, "the function returns the number of BatchNormalization layers it froze", len(bns), "None",
                      "count them and end with `return count`")
    expect(isinstance(count, (int, np.integer)) and int(count) == len(bns), ex,
           "the number of BatchNormalization layers frozen (nested ones included)", len(bns), count,
           "add 1 for each BatchNormalization layer, and the counts of the nested models")

    # Behaviour: training=True now normalises with the moving statistics, and fit leaves BatchNorm alone.
    x = rng.uniform(0, 1, (4, 6, 6, 3)).astype("float32")
    before = _bn_state(bns)
    train = keras.ops.convert_to_numpy(model(x, training=True))
    infer = keras.ops.convert_to_numpy(model(x, training=False))
    expect(_close(train, infer), ex, "outputs with training=True and training=False after freezing",
           "equal (every BatchNorm in inference mode)", f"{short(train)} vs {short(infer)}",
           "a BatchNormalization layer with trainable=False always uses its moving statistics")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    kernel = np.array(others[0].weights[0].numpy(), copy=True)
    tf_logger = logging.getLogger("tensorflow")     # a notebook that fits many models gets retracing warnings
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        model.fit(x, rng.normal(0, 1, (4, 3)), epochs=1, batch_size=4, verbose=0)
    finally:
        tf_logger.setLevel(level)
    moved = [bn.name for (bn, _), a, b in zip(bns, before, _bn_state(bns)) if not np.allclose(a, b)]
    expect(not moved, ex, "fit after freezing changes no BatchNorm weight (gamma, beta, moving statistics)",
           "no change", f"{moved} changed", "set trainable = False on the layer itself")
    expect(not np.allclose(kernel, others[0].weights[0].numpy()), ex, "fit after freezing still trains the other layers",
           f"'{others[0].name}' changes", "unchanged", "freeze only the BatchNormalization layers")


def freeze_batchnorm_test(target):
    """Check ``freeze_batchnorm(model)`` on a model with nested models."""
    __tracebackhide__ = True
    ex = "freeze_batchnorm"
    with guarded(ex):
        _check_freeze(ex, target, seed=700)
    passed(ex, "every BatchNorm frozen (nested ones too), other layers trainable, count, outputs and fit")


def freeze_batchnorm_hidden_test(target, seed=None):
    """Re-check ``freeze_batchnorm`` with fresh layer names and weights."""
    __tracebackhide__ = True
    ex = "freeze_batchnorm"
    seed = fresh_seed(seed)
    with guarded(ex):
        _check_freeze(ex, target, seed)
    passed(ex + " (hidden)", f"a fresh model (seed={seed})")


# =========================================================================== transfer learning
# load_pretrained: the learner's ResNet50 receives the weights of a headless keras.applications.ResNet50.
PRETRAINED_CONFIGS = [((64, 64, 3), 4)]        # (input shape, classes of the new task)
TRANSFER_HEADS = [dict(units=16, dropout=0.3, l2=1e-3, learning_rate=3e-3),
                  dict(units=8, dropout=0.5, l2=0.0, learning_rate=1e-3)]
FINE_TUNE_CONFIGS = [(1, 3e-4), (2, 2e-5)]     # (stages to unfreeze, learning rate of phase 2)


def _quiet_fit(model, x, y):
    tf_logger = logging.getLogger("tensorflow")     # a notebook that fits many models gets retracing warnings
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        model.fit(x, y, epochs=1, batch_size=len(x), verbose=0)
    finally:
        tf_logger.setLevel(level)


def _all_sublayers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_sublayers(layer)


def _check_load_pretrained(ex, target, input_shape, classes, seed):
    __tracebackhide__ = True
    keras = _keras()
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    reference = keras.applications.ResNet50(weights=None, include_top=False, input_shape=input_shape)
    _randomize(reference, rng)
    before = [np.array(w) for w in reference.get_weights()[:4]]
    model = call_learner(ex, target, reference, classes, timeout=MODEL_TIMEOUT)
    _expect_model(ex, model)
    where = f"for a reference with input shape {input_shape} and classes={classes}"
    expect(model is not reference, ex, "the function returns a new model, your own ResNet50", "a new keras.Model",
           "the reference model itself", "build ResNet50(...) and copy the reference's weights into it")
    shared = {id(layer) for layer in reference.layers} & {id(layer) for layer in _all_sublayers(model)}
    expect(not shared, ex, "your model shares no layer with the reference", "no shared layer",
           f"{len(shared)} shared layers", "build a new ResNet50(...) and copy the weights; don't reuse the reference's layers")
    expect(tuple(model.input_shape[1:]) == tuple(input_shape), ex, f"input shape {where}", (None, *input_shape),
           model.input_shape, "build ResNet50 with input_shape=reference.input_shape[1:]")
    expect(tuple(model.output_shape) == (None, classes), ex, f"output shape {where}", (None, classes),
           model.output_shape, "build ResNet50 with classes=classes: the new task's classes, not the old task's")
    gaps = [layer for layer in model.layers if kind(layer) == "gap"]
    expect(len(gaps) == 1, ex, "one GlobalAveragePooling2D layer before the classifier", 1, len(gaps),
           "use your ResNet50 of the ResNet-50 notebook")
    body = keras.Model(model.input, gaps[0].input)
    x = rng.uniform(0, 1, (2, *input_shape)).astype("float32")
    got = keras.ops.convert_to_numpy(body(x, training=False))
    expected = keras.ops.convert_to_numpy(reference(x, training=False))
    expect(got.shape == expected.shape and _close(got, expected), ex,
           f"the features your model feeds its GlobalAveragePooling2D (inference mode) {where}",
           f"the reference's outputs {short(expected)}", f"{short(got)}",
           "copy every weight of the reference (moving statistics included) into the layers before the "
           "GlobalAveragePooling2D: copy_weights(reference, keras.Model(model.input, gap_layer.input))")
    expect(all(np.array_equal(a, b) for a, b in zip(before, reference.get_weights()[:4])), ex,
           "the reference model is left unchanged", "unchanged", "changed", "copy from the reference, not into it")
    return model


def load_pretrained_test(target):
    """Check ``load_pretrained(reference, classes)`` against a headless keras.applications.ResNet50."""
    __tracebackhide__ = True
    ex = "load_pretrained"
    with guarded(ex):
        for input_shape, classes in PRETRAINED_CONFIGS:
            _check_load_pretrained(ex, target, input_shape, classes, seed=810)
    passed(ex, "a new model, input and output shapes, features equal to the reference's in inference mode")


def load_pretrained_hidden_test(target, seed=None):
    """Re-check ``load_pretrained`` on a fresh input size, number of classes and weights."""
    __tracebackhide__ = True
    ex = "load_pretrained"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    side, classes = int(rng.choice([32, 48, 80])), int(rng.integers(2, 9))
    with guarded(ex):
        _check_load_pretrained(ex, target, (side, side, 3), classes, seed)
    passed(ex + " (hidden)", f"input {side}x{side}, {classes} classes, fresh weights (seed={seed})")


def _probe_pretrained(rng, input_shape=(32, 32, 3), classes=5, widths=(4, 8, 8)):
    """A small pretrained-like classifier shaped like ResNet-50: stem, stages of bottleneck blocks, GAP, softmax.

    Stage k halves the resolution (except the first), as in ResNet-50, so its layers can be told apart
    by the size of their outputs. Returns the model with random weights.
    """
    keras = _keras()
    L = keras.layers
    from keras.src.applications.resnet import residual_block_v1

    tag = int(rng.integers(10**6))
    inp = keras.Input(input_shape)
    x = L.Conv2D(8, 3, strides=2, padding="same", name=f"stem_conv_{tag}")(inp)
    x = L.BatchNormalization(epsilon=BN_EPSILON, name=f"stem_bn_{tag}")(x)
    x = L.Activation("relu")(x)
    for k, width in enumerate(widths):
        x = residual_block_v1(x, width, stride=1 if k == 0 else 2, name=f"s{k + 2}_b1_{tag}")
        x = residual_block_v1(x, width, conv_shortcut=False, name=f"s{k + 2}_b2_{tag}")
    x = L.GlobalAveragePooling2D(name=f"pool_{tag}")(x)
    out = L.Dense(classes, activation="softmax", name=f"old_head_{tag}")(x)
    model = keras.Model(inp, out, name=f"pretrained_{tag}")
    _randomize(model, rng)
    return model


def _weights_of(layers_):
    return {id(w) for layer in layers_ for w in layer.weights}


def _nested_bases(ex, model, pretrained):
    """The nested model of ``model`` that holds the pretrained layers (the base)."""
    __tracebackhide__ = True
    keras = _keras()
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    expect(len(nested) == 1, ex, "the pretrained part is one nested model (one layer of the transfer model)",
           "1 nested model", f"{len(nested)}",
           "base = keras.Model(pretrained.input, <input of its GlobalAveragePooling2D>), then call base(inputs) "
           "in the new model")
    return nested[0]


def _check_transfer(ex, target, rng, head, classes=3, fit=False):
    __tracebackhide__ = True
    keras = _keras()
    L = keras.layers
    pretrained = _probe_pretrained(rng)
    old_head = pretrained.layers[-1]
    x = rng.uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    old_out = keras.ops.convert_to_numpy(pretrained(x, training=False))
    model = call_learner(ex, target, pretrained, classes, **head, timeout=MODEL_TIMEOUT)
    _expect_model(ex, model)
    where = f"for classes={classes}, " + ", ".join(f"{k}={v}" for k, v in head.items())
    expect(tuple(model.output_shape) == (None, classes), ex, f"output shape {where}", (None, classes),
           model.output_shape, "the new head ends with Dense(classes, activation='softmax')")
    everything = list(_all_sublayers(model))
    expect(all(layer is not old_head for layer in everything), ex,
           "the head must be new: the pretrained model's classifier is not part of the transfer model",
           "no layer of the old head", f"'{old_head.name}' (the old Dense) is in your model",
           "cut the pretrained model at the input of its GlobalAveragePooling2D and build new head layers on it")
    base = _nested_bases(ex, model, pretrained)
    pre_layers = [layer for layer in pretrained.layers if layer is not old_head and layer.weights]
    expect(all(any(layer is b for b in base.layers) for layer in pre_layers), ex,
           "the base holds the pretrained layers themselves (with their weights)", "the pretrained layers",
           "other layers", "build the base from pretrained.input and pretrained's layers; don't rebuild them")
    head_layers = [layer for layer in model.layers if layer is not base and not isinstance(layer, L.InputLayer)]
    expect(all(all(layer is not p for p in pretrained.layers) for layer in head_layers), ex,
           "the head must be new: its layers are created here", "new layers",
           "layers of the pretrained model", "create new GlobalAveragePooling2D, LayerNormalization, Dense and Dropout layers")
    # Phase 1: nothing of the base trains, BatchNorm included.
    bn_trainable = [layer.name for layer in base.layers if isinstance(layer, L.BatchNormalization)
                    and any(w is v for v in model.trainable_weights for w in layer.weights)]
    expect(not bn_trainable, ex, "phase 1: every BatchNormalization layer of the base is frozen (inference mode)",
           "trainable=False", f"{bn_trainable[:3]} trainable", "freeze the whole base: base.trainable = False")
    base_ids = _weights_of(pre_layers)
    trainable_base = [w.path for w in model.trainable_weights if id(w) in base_ids]
    expect(not trainable_base, ex, "phase 1 trains the head only: no weight of the pretrained base is trainable",
           "0 trainable base weights", f"{len(trainable_base)} (e.g. {trainable_base[0] if trainable_base else ''})",
           "freeze the whole base before phase 1: base.trainable = False")
    # Head: GAP -> LayerNormalization -> Dense(units, relu, L2) -> Dropout(rate) -> Dense(classes, softmax).
    kinds = [kind(layer) for layer in head_layers]
    expect("gap" in kinds, ex, "the head pools the feature map with GlobalAveragePooling2D", "a GlobalAveragePooling2D",
           chain_text(kinds), "add layers.GlobalAveragePooling2D() right after the base")
    norms = [i for i, layer in enumerate(head_layers) if isinstance(layer, L.LayerNormalization)]
    gap_at = kinds.index("gap")
    first_dense = next((i for i, k in enumerate(kinds) if k == "dense"), len(kinds))
    expect(any(gap_at < i < first_dense for i in norms), ex,
           "the head normalises the pooled features: GlobalAveragePooling2D -> LayerNormalization -> Dense",
           "a LayerNormalization between the pooling and the hidden Dense", chain_text(
               ["LayerNormalization" if isinstance(layer, L.LayerNormalization) else kind(layer)
                for layer in head_layers]),
           "add layers.LayerNormalization() right after the GlobalAveragePooling2D: the pooled features share "
           "a large common part, which the hidden Dense cannot learn around")
    denses = [layer for layer in head_layers if kind(layer) == "dense"]
    expect(len(denses) >= 2 and denses[-1].units == classes and fused_activation(denses[-1]) == "softmax"
           and any(d.units == head["units"] and fused_activation(d) == "relu" for d in denses[:-1]), ex,
           f"dense layers of the head {where}",
           f"Dense({head['units']}, activation='relu') ... Dense({classes}, activation='softmax')",
           ", ".join(f"Dense({d.units}, {fused_activation(d)})" for d in denses) or "no Dense",
           "a hidden Dense(units, activation='relu'), then the classifier Dense(classes, activation='softmax')")
    hidden = next(d for d in denses[:-1] if d.units == head["units"])
    rates = [float(layer.rate) for layer in head_layers if isinstance(layer, L.Dropout)]
    expect(head["dropout"] in [round(r, 6) for r in rates], ex, f"Dropout of the head {where}",
           f"a Dropout(rate={head['dropout']})", f"rates {rates}", "use the dropout argument: layers.Dropout(dropout)")
    reg = hidden.kernel_regularizer
    factor = float(getattr(reg, "l2", 0.0) or 0.0) if reg is not None else 0.0
    expect(abs(factor - head["l2"]) <= 1e-9 * max(1.0, head["l2"]) and (reg is None or not getattr(reg, "l1", 0.0)), ex,
           f"L2 regularisation of the hidden Dense's kernel {where}",
           f"L2({head['l2']})" if head["l2"] else "none (or L2(0))", f"{type(reg).__name__}({factor})" if reg else "none",
           "kernel_regularizer=keras.regularizers.L2(l2) when l2 > 0, and no regularizer when l2 == 0")
    # Compiled for phase 1 with the given learning rate.
    expect(getattr(model, "optimizer", None) is not None and model.compiled, ex, "the model is compiled for phase 1",
           "compiled", "not compiled", "end with model.compile(optimizer=keras.optimizers.Adam(learning_rate), ...)")
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    expect(abs(lr - head["learning_rate"]) <= 1e-6 * head["learning_rate"], ex, f"optimizer learning rate {where}",
           head["learning_rate"], lr, "keras.optimizers.Adam(learning_rate)")
    expect(_close(keras.ops.convert_to_numpy(pretrained(x, training=False)), old_out), ex,
           "the pretrained model computes what it computed before", "unchanged outputs", "changed",
           "build the transfer model around the pretrained layers; don't modify their weights")
    if not fit:
        return
    # Behaviour: fit trains the head and leaves the base alone.
    state = [np.array(w) for w in base.weights]
    head_kernel = np.array(denses[-1].kernel)
    _quiet_fit(model, x, np.eye(classes)[rng.integers(0, classes, len(x))])
    changed = [w.path for w, a in zip(base.weights, state) if not np.array_equal(np.array(w), a)]
    expect(not changed, ex, "phase 1: fit changes no weight of the base (moving statistics included)", "no change",
           f"{len(changed)} changed (e.g. {changed[0] if changed else ''})",
           "freeze the base (base.trainable = False) before compiling")
    expect(not np.array_equal(head_kernel, np.array(denses[-1].kernel)), ex, "phase 1: fit trains the new head",
           "the classifier's kernel changes", "unchanged", "leave the head layers trainable")


def build_transfer_model_test(target):
    """Check ``build_transfer_model(pretrained, classes, ...)`` on a small ResNet-shaped classifier."""
    __tracebackhide__ = True
    ex = "build_transfer_model"
    rng = np.random.default_rng(820)
    with guarded(ex):
        for i, head in enumerate(TRANSFER_HEADS):
            _check_transfer(ex, target, rng, head, fit=i == 0)
    passed(ex, "a new head (GAP, LayerNormalization, Dense, Dropout, L2, softmax), frozen base and BatchNorm, learning rate, fit")


def build_transfer_model_hidden_test(target, seed=None):
    """Re-check ``build_transfer_model`` with fresh sizes, rates and weights."""
    __tracebackhide__ = True
    ex = "build_transfer_model"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    head = dict(units=int(rng.integers(5, 40)), dropout=float(rng.choice([0.2, 0.4, 0.6])),
                l2=float(rng.choice([0.0, 1e-4, 1e-2])), learning_rate=float(rng.choice([1e-3, 5e-4, 2e-3])))
    with guarded(ex):
        _check_transfer(ex, target, rng, head, classes=int(rng.integers(2, 7)))
    passed(ex + " (hidden)", f"a fresh head configuration (seed={seed})")


def _probe_transfer(rng, classes=3, learning_rate=1e-3):
    """A transfer model as build_transfer_model makes it (nested frozen base, new head), after phase 1.

    Instead of a real fit, the training step of phase 1 is created (not traced): what matters is that
    it exists, so that only a new compile makes fit see changed ``trainable`` flags.
    """
    keras = _keras()
    L = keras.layers
    pretrained = _probe_pretrained(rng)
    gap = next(layer for layer in pretrained.layers if kind(layer) == "gap")
    base = keras.Model(pretrained.input, gap.input, name=f"features_{int(rng.integers(10**6))}")
    base.trainable = False
    inp = keras.Input(pretrained.input_shape[1:])
    x = L.GlobalAveragePooling2D()(base(inp, training=False))
    x = L.Dropout(0.3)(L.Dense(8, activation="relu")(x))
    model = keras.Model(inp, L.Dense(classes, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy")
    images = rng.uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    labels = np.eye(classes)[rng.integers(0, classes, len(images))]
    model.make_train_function()
    return model, base, images, labels


def _flags(values) -> str:
    return "".join("T" if v else "." for v in values)


def _check_fine_tuning(ex, target, rng, stages, learning_rate):
    __tracebackhide__ = True
    keras = _keras()
    L = keras.layers
    model, base, x, y = _probe_transfer(rng)
    last = int(base.output.shape[1])
    convs = [layer for layer in base.layers if isinstance(layer, L.Conv2D)]
    expected = [int(layer.output.shape[1]) <= last * 2 ** (stages - 1) for layer in convs]
    where = f"with stages={stages}, learning_rate={learning_rate} (phase 1 used 0.001)"
    count = call_learner(ex, target, model, stages=stages, learning_rate=learning_rate, timeout=MODEL_TIMEOUT)
    got = [layer.trainable and base.trainable for layer in convs]
    expect(got == expected, ex, f"trainable flags of the base's Conv2D layers in graph order (T: trainable) {where}",
           _flags(expected), _flags(got),
           f"unfreeze exactly the Conv2D layers of the last {stages} stage(s): those whose output is at most "
           f"{2 ** (stages - 1)} times as high as the base's last feature map; keep every other base layer frozen "
           "(everything unfrozen at once destroys what the pretrained layers learned)")
    bns = [layer for layer in base.layers if isinstance(layer, L.BatchNormalization)]
    trainable_bns = [layer.name for layer in bns if layer.trainable and base.trainable]
    expect(not trainable_bns, ex, f"every BatchNormalization layer stays frozen (inference mode) {where}",
           "trainable=False for all", f"{len(trainable_bns)} trainable, e.g. '{trainable_bns[0] if trainable_bns else ''}'",
           "unfreeze the Conv2D layers only; a trainable BatchNorm would normalise the small batches of the new task "
           "with their own statistics and overwrite the pretrained moving statistics")
    others = [layer.name for layer in base.layers if layer.weights and layer.trainable and base.trainable
              and not isinstance(layer, (L.Conv2D, L.BatchNormalization))]
    expect(not others, ex, "no other base layer is unfrozen", "none", others[:3], "unfreeze Conv2D layers only")
    head = [layer for layer in model.layers if layer is not base and layer.weights]
    expect(all(layer.trainable for layer in head), ex, "the head keeps training in phase 2", "trainable head",
           [layer.name for layer in head if not layer.trainable], "leave the head layers trainable")
    expect(isinstance(count, (int, np.integer)) and int(count) == sum(expected), ex,
           "the function returns the number of Conv2D layers it unfroze", sum(expected), count, "return the count")
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    expect(abs(lr - learning_rate) <= 1e-6 * learning_rate, ex, f"optimizer learning rate for phase 2 {where}",
           learning_rate, lr, "recompile with keras.optimizers.Adam(learning_rate): phase 2 uses a learning rate "
           "10 to 100 times lower than phase 1, so the pretrained weights move only a little")
    same = _close(keras.ops.convert_to_numpy(base(x, training=True)), keras.ops.convert_to_numpy(base(x, training=False)))
    expect(same, ex, "the base gives the same features with training=True and training=False (BatchNorm in inference mode)",
           "equal", "different", "keep every BatchNormalization layer at trainable=False")
    compiled = getattr(model, "_compiled_trainable_state", None)
    stale = model.train_function is not None or (compiled is not None and any(
        compiled.get(layer, layer.trainable) != layer.trainable for layer in model._flatten_layers()))
    expect(not stale, ex, "the model is compiled again after the trainable flags changed",
           "a new model.compile(...)", "fit would reuse the training step of phase 1",
           "recompile the model after changing trainable: fit keeps its old training step (and its old "
           "list of trainable weights) until model.compile is called")


def start_fine_tuning_test(target):
    """Check ``start_fine_tuning(model, stages, learning_rate)`` on a small transfer model after phase 1."""
    __tracebackhide__ = True
    ex = "start_fine_tuning"
    rng = np.random.default_rng(830)
    with guarded(ex):
        for stages, learning_rate in FINE_TUNE_CONFIGS:
            _check_fine_tuning(ex, target, rng, stages, learning_rate)
    passed(ex, "Conv2D flags layer by layer, BatchNorm frozen, head trainable, learning rate, recompiled")


def start_fine_tuning_hidden_test(target, seed=None):
    """Re-check ``start_fine_tuning`` with a fresh number of stages, learning rate and weights."""
    __tracebackhide__ = True
    ex = "start_fine_tuning"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    stages, learning_rate = int(rng.integers(1, 4)), float(rng.choice([1e-4, 5e-5, 1e-5]))
    with guarded(ex):
        _check_fine_tuning(ex, target, rng, stages, learning_rate)
    passed(ex + " (hidden)", f"stages={stages}, learning_rate={learning_rate} (seed={seed})")


# =========================================================================== CIFAR-10 case study
# preactivation_block (ResNet V2's identity block) and grad_cam (class activation maps).
PREACT_CONFIGS = [((5, 5, 6), 3, [2, 4, 6]), ((6, 6, 8), 2, [3, 3, 8])]
PREACT_MAIN = ["bn", "relu", "conv", "bn", "relu", "conv", "bn", "relu", "conv"]
POSTACT_MAIN = ["conv", "bn", "relu", "conv", "bn", "relu", "conv", "bn"]


def _preact_reference(inp, f, filters, initializer=None):
    """The specification with plain Keras layers (the test's own reference)."""
    L = _keras().layers
    F1, F2, F3 = filters
    X = L.Activation("relu")(L.BatchNormalization(axis=3, epsilon=BN_EPSILON)(inp))
    X = L.Conv2D(F1, 1, use_bias=False)(X)
    X = L.Activation("relu")(L.BatchNormalization(axis=3, epsilon=BN_EPSILON)(X))
    X = L.Conv2D(F2, f, padding="same", use_bias=False)(X)
    X = L.Activation("relu")(L.BatchNormalization(axis=3, epsilon=BN_EPSILON)(X))
    X = L.Conv2D(F3, 1)(X)
    return L.Add()([X, inp])


def _check_preact_structure(ex, inp, out, f, filters):
    __tracebackhide__ = True
    where = f"(f={f}, filters={filters})"
    prod = producer(out)
    last = kind(prod[0])
    if last == "relu":
        raise failure(ex, f"the block's last operation {where}", "Add (the block ends with the addition)",
                      "ReLU after the Add",
                      "a pre-activation block has no ReLU after the Add: the next block's own BatchNorm and ReLU "
                      "come first, so the shortcut path stays a pure identity from block to block")
    expect(last == "add" and len(prod[1].input_tensors) == 2, ex, f"the block's last operation {where}",
           "Add of two tensors (main path + shortcut)", KIND_NAMES.get(last, last),
           "end the block with layers.Add()([X, X_shortcut]) and return it")
    a, b = prod[1].input_tensors
    if a is not inp and b is not inp:
        for t in (a, b):
            ops, reached = chain_back(t, inp)
            if reached and [kind(o) for o in ops] == ["bn", "relu"]:
                raise failure(ex, f"the shortcut {where}", "X itself (the block's input)",
                              "X after BatchNormalization -> ReLU",
                              "in the identity block of ResNet V2 the shortcut skips the pre-activation: save "
                              "X_shortcut = X before the first BatchNormalization")
        raise failure(ex, f"the shortcut {where}", "X itself, added unchanged", "no input of the Add is X",
                      "save X_shortcut = X at the start and add it to the main path's output")
    main = b if a is inp else a
    ops, reached = chain_back(main, inp)
    kinds = kinds_with_fused(ops)
    if kinds != PREACT_MAIN:
        hint = "follow the table: every Conv2D is preceded by BatchNormalization -> ReLU; the last Conv2D feeds the Add"
        if [k.split(" ")[0] for k in kinds] == POSTACT_MAIN:
            hint = ("this is the original (post-activation) block of notebook 2: in ResNet V2 BatchNormalization and "
                    "ReLU come *before* each Conv2D, and the block starts with them")
        elif kinds[:1] == ["conv"]:
            hint = "pre-activation: the block starts with BatchNormalization -> ReLU on X, before the first Conv2D"
        elif kinds[-1:] != ["conv"]:
            hint = "the main path ends with the third Conv2D, not with BatchNormalization or ReLU"
        elif any("fused" in k for k in kinds):
            hint = "don't fuse activation='relu' into a Conv2D: the ReLU comes after a BatchNormalization"
        raise failure(ex, f"the main path, from X to the Add {where}", chain_text(PREACT_MAIN), chain_text(kinds),
                      hint)
    convs = [o for o in ops if kind(o) == "conv"]
    bns = [o for o in ops if kind(o) == "bn"]
    got_k = [tuple(c.kernel_size) for c in convs]
    expect(got_k == [(1, 1), (f, f), (1, 1)], ex, f"kernel sizes of the three Conv2D {where}",
           [(1, 1), (f, f), (1, 1)], got_k, "1x1, then f x f, then 1x1")
    got_filters = [c.filters for c in convs]
    expect(got_filters == list(filters), ex, f"filters of the three Conv2D {where}", list(filters), got_filters,
           "F1, F2, F3 = filters, in this order")
    got_strides = [tuple(c.strides) for c in convs]
    expect(got_strides == [(1, 1)] * 3, ex, f"strides {where}", [(1, 1)] * 3, got_strides,
           "an identity block keeps the height and width: stride 1 everywhere")
    expect(convs[1].padding == "same", ex, f"padding of the f x f Conv2D {where}", "'same'", repr(convs[1].padding),
           "padding='same' keeps the height and width, so the Add fits")
    got_bias = [bool(c.use_bias) for c in convs]
    expect(got_bias == [False, False, True], ex, f"use_bias of the three Conv2D {where}", [False, False, True],
           got_bias, "a Conv2D followed by BatchNormalization needs no bias (the BatchNorm's beta replaces it): "
                     "use_bias=False on the first two; the last one feeds the Add and keeps its bias")
    for bn in bns:
        expect(list(np.atleast_1d(bn.axis)) in ([3], [-1]), ex, f"BatchNormalization axis {where}", "3 (channels)",
               bn.axis, "normalise over the channels axis: axis=3")
        expect(abs(bn.epsilon - BN_EPSILON) < 1e-9, ex, f"BatchNormalization epsilon {where}", BN_EPSILON,
               bn.epsilon, "use epsilon=1.001e-5, as keras.applications does")


def _preact_case(ex, target, shape, f, filters, rng, where, reference_fn=None):
    __tracebackhide__ = True
    keras = _keras()
    inp = keras.Input(shape)
    out = call_learner(ex, target, inp, f=f, filters=list(filters), initializer=keras.initializers.GlorotUniform,
                       timeout=BLOCK_TIMEOUT)
    _expect_tensor(ex, out, inp)
    expected_shape = (None, *shape)
    expect(tuple(out.shape) == expected_shape, ex, f"output shape {where}", _fmt_shape(expected_shape),
           _fmt_shape(out.shape), "an identity block keeps its input's shape: F3 must equal the input's channels")
    with guarded(ex):
        _check_preact_structure(ex, inp, out, f, list(filters))
        model = keras.Model(inp, out)
        ref_in = keras.Input(shape)
        reference = keras.Model(ref_in, (reference_fn or _preact_reference)(ref_in, f, list(filters)))
        _randomize(reference, rng)
        copy_weights(reference, model)
        x = rng.normal(0, 1, (BATCH, *shape)).astype("float32")
        _compare_modes(ex, model, x, keras.ops.convert_to_numpy(reference(x, training=False)),
                       keras.ops.convert_to_numpy(reference(x, training=True)), where)


def preactivation_block_test(target):
    """Check ``preactivation_block``: the V2 ordering (BN -> ReLU -> conv), the shortcut, and values in both modes."""
    __tracebackhide__ = True
    ex = "preactivation_block"
    expect_untampered(ex)
    with guarded(ex):
        rng = np.random.default_rng(0)
        for shape, f, filters in PREACT_CONFIGS:
            _preact_case(ex, target, shape, f, filters, rng, f"for input {shape}, f={f}, filters={filters}")
    passed(ex, "pre-activation order, identity shortcut, no final ReLU, values in both BatchNorm modes")


def _keras_v2_block(inp, f, filters):
    """Keras's own ResNet50V2 block (identity shortcut, stride 1); only kernel 3 exists there."""
    from keras.src.applications.resnet import residual_block_v2

    return residual_block_v2(inp, filters[0], kernel_size=f, stride=1, conv_shortcut=False,
                             name=f"hidden_v2_{_keras().backend.get_uid('hidden_v2')}")


def preactivation_block_hidden_test(target, seed=None):
    """Re-check ``preactivation_block`` on a fresh bottleneck configuration against Keras's ResNet50V2 block."""
    __tracebackhide__ = True
    ex = "preactivation_block"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    F = int(rng.integers(1, 5))
    side = int(rng.integers(3, 9))
    with guarded(ex):
        _preact_case(ex, target, (side, side, 4 * F), 3, [F, F, 4 * F], rng,
                     f"against Keras's own ResNet50V2 block on a fresh configuration (input {(side, side, 4 * F)}, "
                     f"f=3, filters={[F, F, 4 * F]}, seed={seed})", reference_fn=_keras_v2_block)
    passed(ex + " (hidden)", "values against keras.applications' ResNet50V2 block on a fresh configuration")


# --------------------------------------------------------------------------- grad_cam
def _cam_probe(rng, side=8, channels=3, widths=(4, 6), classes=3, name="last_conv"):
    """A small classifier with a named conv layer; BatchNorm with non-trivial moving statistics."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((side, side, channels))
    X = L.Conv2D(widths[0], 3, padding="same", activation="relu", name="first_conv")(inp)
    X = L.BatchNormalization(name="probe_bn")(X)
    X = L.MaxPooling2D(2)(X)                  # the maps are smaller than the images
    X = L.Conv2D(widths[1], 3, padding="same", name=name)(X)
    X = L.Activation("relu")(X)
    X = L.GlobalAveragePooling2D()(X)
    out = L.Dense(classes, activation="softmax", name="probs")(X)
    model = keras.Model(inp, out, name="cam_probe")
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            new = [rng.normal(0, 0.6, w.shape) for w in ws]
            if isinstance(layer, L.BatchNormalization):
                new = [rng.uniform(0.8, 1.2, ws[0].shape), rng.normal(0, 0.1, ws[1].shape),
                       rng.normal(0, 0.3, ws[2].shape), rng.uniform(0.5, 2.0, ws[3].shape)]
            layer.set_weights([w.astype("float32") for w in new])
    images = rng.uniform(0, 1, (4, side, side, channels)).astype("float32")
    return model, images


def _cam_reference(model, images, layer_name, class_index=None, variant="grad-cam"):
    """Grad-CAM by the specification, and the usual slips (``variant``), for diagnosis."""
    import tensorflow as tf

    keras = _keras()
    grad_model = keras.Model(model.inputs, [model.get_layer(layer_name).output, model.output])
    x = tf.convert_to_tensor(images, tf.float32)
    training = variant == "training"
    saved = model.get_weights()          # training mode moves BatchNorm's statistics: put them back afterwards
    with tf.GradientTape() as tape:
        features, probs = grad_model(x, training=training)
        m = int(probs.shape[0])
        if class_index is None or variant == "argmax":
            idx = np.argmax(keras.ops.convert_to_numpy(probs), axis=1)
        else:
            idx = np.broadcast_to(np.asarray(class_index), (m,))
        picked = tf.gather(probs, tf.constant(idx, tf.int32), axis=1, batch_dims=1)
        score = picked
    grads = tape.gradient(score, features).numpy()
    features = features.numpy()
    if training:
        model.set_weights(saved)
    if variant == "per_position":
        raw = (grads * features).sum(axis=-1)
    else:
        raw = np.einsum("mhwk,mk->mhw", features, grads.mean(axis=(1, 2)))
    if variant == "no_relu":
        return raw / np.maximum(np.abs(raw).max(axis=(1, 2), keepdims=True), 1e-12)
    cam = np.maximum(raw, 0)
    if variant == "no_norm":
        return cam
    return cam / np.maximum(cam.max(axis=(1, 2), keepdims=True), 1e-12)


CAM_SLIPS = [
    ("argmax", "your maps are those of each image's predicted class, not of the class asked for",
     "when class_index is given (an int for every image, or one per image), take that class's probability"),
    ("training", "your maps are those of the model in training mode (BatchNorm with batch statistics)",
     "call the model with training=False: Grad-CAM explains the network as it predicts"),
    ("per_position", "your maps weight each position by its own gradient instead of the channel's average gradient",
     "the weight of channel k is the mean of d(score)/d(A_k) over the height and width (global average pooling "
     "of the gradients), one number per channel and image"),
]


def _expect_cam(ex, got, expected, model, images, layer_name, class_index, where):
    __tracebackhide__ = True
    keras = _keras()
    if got is None:
        raise failure(ex, f"the function returned None {where}", "an array of heat maps", "None",
                      "end the function with `return heatmaps`")
    kind_of = describe(got)
    if isinstance(got, (tuple, list)):
        raise failure(ex, f"what grad_cam returned {where}", "one array of shape (m, h, w)",
                      f"a {type(got).__name__} of {len(got)} values", "return only the heat maps")
    try:
        got = np.asarray(keras.ops.convert_to_numpy(got), dtype=np.float64)
    except Exception:  # noqa: BLE001
        raise failure(ex, f"what grad_cam returned {where}", "an array of heat maps", describe(got),
                      "return a NumPy array (or tensor) of shape (m, h, w)") from None
    if got.shape != expected.shape:
        hint = "one map per image, at the resolution of the layer's output (h, w): sum over the channels"
        if got.shape == expected.shape + (1,):
            hint = "drop the channel axis: the weighted sum over the channels gives one (h, w) map per image"
        elif got.ndim == 3 and got.shape[0] == expected.shape[0] and got.shape[1:] != expected.shape[1:]:
            hint = ("the maps must have the size of the layer's output (the test's layer gives "
                    f"{expected.shape[1:]}); resizing to the image is done when plotting, not here")
        raise failure(ex, f"shape of the heat maps {where}", f"an array of shape {_fmt_shape(expected.shape)}", kind_of,
                      hint)
    if not np.all(np.isfinite(got)):
        raise failure(ex, f"heat maps {where}", "finite values in [0, 1]", "NaN or inf",
                      "divide by the maximum only when it is above 0 (e.g. np.maximum(max, 1e-12))")
    if got.min() < -1e-6:
        raise failure(ex, f"smallest value of the heat maps {where}", ">= 0", f"{got.min():.4f}",
                      "Grad-CAM keeps only the evidence *for* the class: apply ReLU to the weighted sum of the "
                      "feature maps before normalising")
    if _close(got, expected):
        return
    for variant, check, hint in CAM_SLIPS:
        if _close(got, _cam_reference(model, images, layer_name, class_index, variant)):
            raise failure(ex, f"{check} {where}", short(expected), short(got), hint)
    peaks = got.max(axis=(1, 2))
    want_peaks = expected.max(axis=(1, 2))
    if not np.allclose(peaks, want_peaks, atol=1e-4):
        hint = "divide each map by its own maximum, so that its largest value is 1 (an all-zero map stays 0)"
        if np.allclose(got, _cam_reference(model, images, layer_name, class_index, "no_norm"), rtol=1e-3, atol=1e-7):
            hint = "the maps are right but not normalised: divide each map by its own maximum"
        raise failure(ex, f"the largest value of each heat map {where}", short(want_peaks), short(peaks), hint)
    raise failure(ex, f"values of the heat maps {where}", short(expected), short(got),
                  f"follow the three steps: gradient of the class probability with respect to the layer's output, "
                  f"channel weights = their mean over height and width, ReLU of the weighted sum, then divide by "
                  f"the maximum (tolerance: {TOLERANCE})")


def _cam_case(ex, target, model, images, layer_name, class_index, where):
    __tracebackhide__ = True
    expected = _cam_reference(model, images, layer_name, class_index)
    before = images.copy()
    got = call_learner(ex, target, model, images, layer_name, class_index=class_index, timeout=BLOCK_TIMEOUT * 4)
    expect(np.array_equal(before, images), ex, f"the images after the call {where}", "unchanged", "changed in place",
           "don't modify the caller's images; work on a copy or on tensors")
    with guarded(ex):
        _expect_cam(ex, got, expected, model, images, layer_name, class_index, where)


def grad_cam_test(target):
    """Check ``grad_cam`` on a small classifier: the predicted class, one class for all, one class per image."""
    __tracebackhide__ = True
    ex = "grad_cam"
    expect_untampered(ex)
    with guarded(ex):
        model, images = _cam_probe(np.random.default_rng(0))
        for class_index, what in ((None, "class_index=None (the predicted class)"), (1, "class_index=1"),
                                  ([2, 0, 1, 2], "class_index=[2, 0, 1, 2]")):
            _cam_case(ex, target, model, images, "last_conv", class_index, f"on 4 images of 8x8, {what}")
    passed(ex, "heat maps for the predicted class and for given classes, against a reference Grad-CAM")


def grad_cam_hidden_test(target, seed=None):
    """Re-check ``grad_cam`` on a fresh classifier, another layer and fresh classes."""
    __tracebackhide__ = True
    ex = "grad_cam"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(2, 6))
    with guarded(ex):
        model, images = _cam_probe(rng, side=int(rng.integers(5, 12)), widths=tuple(int(v) for v in rng.integers(2, 7, 2)),
                                   classes=classes, name="target_layer")
        layer = "first_conv" if rng.random() < 0.5 else "target_layer"
        given = [int(v) for v in rng.integers(0, classes, len(images))]
        for class_index in (None, given):
            _cam_case(ex, target, model, images, layer, class_index,
                      f"on a fresh classifier (layer {layer!r}, class_index={class_index}, seed={seed})")
    passed(ex + " (hidden)", "heat maps on a fresh classifier and layer")


# --------------------------------------------------------------------------- block_summary
# (input shape without the batch axis, f, filters, s): a projection with s=1 (conv2_x), an identity block,
# a stride that does not divide the size, and a projection that keeps the channels
SUMMARY_CONFIGS = [((16, 16, 64), 3, [64, 64, 256], 1), ((8, 8, 6), 3, [2, 4, 6], 1), ((9, 9, 4), 3, [2, 3, 5], 2),
                   ((7, 5, 3), 1, [3, 2, 3], 3)]
SUMMARY_RULE = ("sum the three convolutions (k * k * C_in * C_out weights + C_out biases each), 4 numbers per channel "
                "for each BatchNorm, and the projection's Conv2D and BatchNorm when there is one")


def _built_block_summary(input_shape, f, filters, s):
    """(output shape, projection, count_params) of the block built with Keras layers: the independent reference."""
    keras = _keras()
    layers = keras.layers
    F1, F2, F3 = filters
    projection = s != 1 or input_shape[-1] != F3
    inp = keras.Input(input_shape)
    x = layers.Activation("relu")(layers.BatchNormalization()(layers.Conv2D(F1, 1, strides=s)(inp)))
    x = layers.Activation("relu")(layers.BatchNormalization()(layers.Conv2D(F2, f, padding="same")(x)))
    x = layers.BatchNormalization()(layers.Conv2D(F3, 1)(x))
    shortcut = layers.BatchNormalization()(layers.Conv2D(F3, 1, strides=s)(inp)) if projection else inp
    model = keras.Model(inp, layers.Activation("relu")(layers.Add()([x, shortcut])))
    return tuple(int(v) for v in model.output.shape[1:]), projection, int(model.count_params())


def _check_block_summary(ex, target, input_shape, f, filters, s, where):
    __tracebackhide__ = True
    want_shape, want_projection, want_params = _built_block_summary(input_shape, f, filters, s)
    out = call_learner(ex, target, tuple(input_shape), f, list(filters), s, timeout=NUMPY_TIMEOUT)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise failure(ex, "what the function returns", "(output_shape, projection, parameters)", describe(out),
                      "end with `return output_shape, projection, parameters`")
    try:
        got_shape = tuple(int(v) for v in out[0])
    except (TypeError, ValueError):
        got_shape = None
    if got_shape != want_shape:
        (n_H, n_W, _), F3 = input_shape, filters[2]
        hint = "height and width: ceil(n / s); channels: F3"
        if got_shape is not None and len(got_shape) == 3 and got_shape[:2] == (n_H // s, n_W // s):
            hint = ("a 1x1 convolution with stride s and no padding keeps ceil(n / s) rows and columns (the last, "
                    "incomplete step still produces one): use -(-n // s), not n // s")
        elif got_shape is not None and len(got_shape) == 3 and got_shape[:2] == want_shape[:2]:
            hint = f"the block's last convolution has F3 = {F3} filters, so the output has F3 channels"
        raise failure(ex, f"output_shape {where}", want_shape, out[0] if got_shape is None else got_shape, hint)
    if not isinstance(out[1], (bool, np.bool_)) or bool(out[1]) != want_projection:
        if want_projection and s == 1:
            hint = "with s=1 the shortcut still needs a projection when the channels change (n_C != F3)"
        elif want_projection:
            hint = "a stride s != 1 changes the height and width, so the input cannot be added as it is"
        else:
            hint = "with s=1 and n_C == F3 the input is added as it is (the identity block): no projection"
        if not isinstance(out[1], (bool, np.bool_)):
            hint = "projection must be True or False; " + hint
        raise failure(ex, f"projection {where}", want_projection, describe(out[1]), hint)
    try:
        got_params = int(out[2])
    except (TypeError, ValueError):
        raise failure(ex, f"parameters {where}", want_params, describe(out[2]), "return the count as an int") from None
    if got_params != want_params:
        n_C, (F1, F2, F3) = input_shape[-1], filters
        channels = F1 + F2 + F3 + (F3 if want_projection else 0)
        missing, shortcut = want_params - got_params, n_C * F3 + F3 + 4 * F3
        hint = SUMMARY_RULE
        if missing == channels:
            hint = "every Conv2D keeps its bias: add one per filter"
        elif missing == 2 * channels:
            hint = ("each BatchNorm holds 4 numbers per channel: gamma, beta and the two moving averages "
                    "(count_params counts the moving averages too)")
        elif want_projection and missing == shortcut:
            hint = (f"the projection shortcut has its own Conv2D (n_C * F3 + F3 = {n_C * F3 + F3}) and BatchNorm "
                    f"(4 * F3 = {4 * F3})")
        elif not want_projection and -missing == shortcut:
            hint = "an identity block has no shortcut parameters: count the projection only when there is one"
        elif f != 1 and missing == (f * f - 1) * F1 * F2:
            hint = "the middle convolution is f x f: f * f * F1 * F2 weights"
        raise failure(ex, f"parameters {where}", want_params, got_params, hint)


def block_summary_test(target):
    """Check ``block_summary(input_shape, f, filters, s)`` against blocks built by Keras."""
    __tracebackhide__ = True
    ex = "block_summary"
    with guarded(ex):
        for input_shape, f, filters, s in SUMMARY_CONFIGS:
            _check_block_summary(ex, target, input_shape, f, filters, s,
                                 f"for input_shape={input_shape}, f={f}, filters={filters}, s={s}")
    passed(ex, f"output shape, shortcut and parameters for {len(SUMMARY_CONFIGS)} configurations")


def block_summary_hidden_test(target, seed=None):
    """Re-check ``block_summary`` on fresh random configurations against blocks built by Keras."""
    __tracebackhide__ = True
    seed = fresh_seed(seed)
    ex = "block_summary"
    with guarded(ex):
        rng = np.random.default_rng(seed)
        for identity in (True, False):
            n_H, n_W = (int(v) for v in rng.integers(3, 30, 2))
            f = int(rng.choice([1, 3, 5]))
            F1, F2, F3 = (int(v) for v in rng.integers(1, 40, 3))
            s = 1 if identity else int(rng.integers(1, 5))
            n_C = F3 if identity else int(rng.integers(1, 40))
            if not identity and s == 1 and n_C == F3:
                n_C += 1
            _check_block_summary(ex, target, (n_H, n_W, n_C), f, [F1, F2, F3], s,
                                 f"on a fresh configuration (input_shape={(n_H, n_W, n_C)}, f={f}, "
                                 f"filters={[F1, F2, F3]}, s={s}, seed={seed})")
    passed(ex + " (hidden)", "an identity and a convolutional block on fresh configurations")
