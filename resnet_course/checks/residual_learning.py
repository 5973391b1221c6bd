"""Notebook 1: unit_forward, gradient_norms, build_cnn."""

from __future__ import annotations

import numpy as np

from ..exercise import Exercise, Fixtures, fixture_key
from ..expected import deterministic_initializer, fresh_seed, load_fixtures
from ..graph import chain_back, chain_text, kind, kinds_with_fused
from ..harness import (
    StudentTimeout,
    call_learner,
    describe,
    expect,
    failure,
    guarded,
    passed,
    short,
    time_limit,
)
from ..keras_internals import graph_depth, producer
from ..paths import RESIDUAL_FIXTURES
from .common import (
    BATCH,
    close,
    compare_modes,
    expect_array,
    expect_model,
    expect_unchanged,
    lazy_keras,
    limit,
    rel_close,
)

# =========================================================================== residual learning
# Fixed configurations of the NumPy exercises; the fixtures (resnet_course/fixtures/residual_learning.npz) hold
# the inputs and the reference outputs for each.
UNIT_CONFIGS = [(4, 5, 3), (3, 2, 6)]                    # (m, d, h)
CHAIN_CONFIGS = [(4, 8, 6, 12, 0.25), (3, 5, 7, 6, 1.0)]    # (m, d, h, units, scale of W2)
# (depth, residual, input_shape, classes, width)
CNN_CONFIGS = [(4, False, (12, 12, 3), 3, 4), (8, True, (16, 16, 3), 4, 3), (6, True, (9, 9, 2), 2, 2)]
CNN_STEM = ["conv", "bn", "relu", "maxpool"]
CNN_UNIT = {False: ["conv", "bn", "relu", "conv", "bn", "relu"], True: ["conv", "bn", "relu", "conv", "bn", "add", "relu"]}
CNN_HEAD = ["gap", "dense", "softmax"]

UNIT_FORMULA = "Z1 = X @ W1 + b1, A1 = ReLU(Z1), Z = A1 @ W2 + b2 (+ X if residual), Y = ReLU(Z)"
BACKWARD_FORMULA = ("backward through one unit: dZ = dY * (Z > 0); dZ1 = (dZ @ W2.T) * (Z1 > 0); "
                    "dX = dZ1 @ W1.T, plus dZ for a residual unit")


def _unit_inputs(fixtures, key):
    return [fixtures[fixture_key(key, n)] for n in ("X", "W1", "b1", "W2", "b2")]


def _chain_params(fixtures, key):
    W1, b1, W2, b2 = (fixtures[fixture_key(key, n)] for n in ("W1", "b1", "W2", "b2"))
    return [(W1[i], b1[i], W2[i], b2[i]) for i in range(len(W1))]


# --------------------------------------------------------------------------- unit_forward
def _check_unit(ex, target, X, W1, b1, W2, b2, expected_plain, expected_residual, where):
    __tracebackhide__ = True
    args = [X, W1, b1, W2, b2]
    copies = [np.array(a, copy=True) for a in args]
    shape = X.shape
    for residual, want, other in ((False, expected_plain, expected_residual), (True, expected_residual, expected_plain)):
        got = expect_array(ex, call_learner(ex, target, *args, residual=residual, timeout=limit('numpy')),
                            shape, "Y", "the unit's output of shape (m, d)")
        expect_unchanged(ex, copies, args, ["X", "W1", "b1", "W2", "b2"])
        if close(got, want):
            continue
        hint = f"compute {UNIT_FORMULA}"
        if close(got, other):
            hint = ("residual=False is a plain unit: don't add X" if not residual else
                    "residual=True adds the input X to Z before the final ReLU")
        elif residual and close(got, expected_plain + X):
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
            key = fixture_key(ex, i)
            _check_unit(ex, target, *_unit_inputs(fixtures, key), fixtures[fixture_key(key, "plain")],
                        fixtures[fixture_key(key, "residual")], f"for X of shape {(m, d)}, W1 {(d, h)}, W2 {(h, d)}")
    passed(ex, f"plain and residual outputs for {len(UNIT_CONFIGS)} configurations")


def _dense(units, weights, activation=None):
    """A float64 Keras Dense layer holding the given kernel and bias."""
    keras = lazy_keras()
    layer = keras.layers.Dense(units, activation=activation, dtype="float64")
    layer.build((None, weights[0].shape[0]))
    layer.set_weights([np.asarray(w, np.float64) for w in weights])
    return layer


def _keras_unit(W1, b1, W2, b2, residual):
    """The unit built from Keras layers (Dense, Add, ReLU), as a function of a tensor."""
    keras = lazy_keras()
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
        keras = lazy_keras()
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
        got = expect_array(ex, call_learner(ex, target, *args, residual=residual, timeout=limit('numpy')),
                            (units,), "norms", "one number per unit: the norm of dL/dx_l at the input of unit l")
        expect_unchanged(ex, [copies[0], copies[2]], [X, dout], ["X", "dout"])
        for p_new, p_old in zip(params, copies[1]):
            expect_unchanged(ex, p_old, p_new, ["W1", "b1", "W2", "b2"])
        if rel_close(got, want):
            continue
        hint = BACKWARD_FORMULA
        if rel_close(got[::-1], want):
            hint = ("the order is reversed: entry 0 is the gradient at the chain's input X (unit 0), "
                    "the last entry the gradient at the input of the last unit")
        elif rel_close(got, want ** 2):
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
            key = fixture_key(ex, i)
            _check_norms(ex, target, fixtures[fixture_key(key, "X")], _chain_params(fixtures, key), fixtures[fixture_key(key, "dout")],
                         fixtures[fixture_key(key, "plain")], fixtures[fixture_key(key, "residual")],
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
        main = max(inputs, key=lambda t: graph_depth(t, cache))
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
    keras = lazy_keras()
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
        with time_limit(limit('block')):
            out = target(depth=depth, residual=residual, input_shape=(8, 8, 3), classes=2, width=2)
    except ValueError:
        return
    except NotImplementedError:
        raise failure(ex, "the function is not implemented yet (it raised NotImplementedError)",
                      hint="replace `raise NotImplementedError()` with your code, then run its cell again") from None
    except StudentTimeout:
        raise failure(ex, f"the function did not return within {limit('block'):g} seconds") from None
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
                         width=width, initializer=initializer, timeout=limit('block'))
    expect_model(ex, model)
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
            key = fixture_key(ex, i)
            expect(model.count_params() == int(fixtures[fixture_key(key, "params")]), ex, "number of parameters",
                   int(fixtures[fixture_key(key, "params")]), model.count_params())
            compare_modes(ex, model, fixtures[fixture_key(key, "x")], fixtures[fixture_key(key, "inference")], fixtures[fixture_key(key, "training")],
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
    keras = lazy_keras()
    with guarded(ex):
        _expect_depth_error(ex, target, depth + 1, residual=bool(rng.integers(2)))
        for residual in (False, True):
            model = _build_cnn(ex, target, depth, residual, input_shape, classes, width, keras.initializers.HeNormal)
            x = rng.uniform(0, 1, (BATCH,) + input_shape).astype("float32")
            bare, inference = (keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(model(x, training=False)))
            expect(close(bare, inference), ex, "model(x) without `training` runs BatchNorm in inference mode",
                   short(inference), short(bare), "don't pass training=True to BatchNormalization")
            expect(close(inference.sum(axis=1), np.ones(BATCH)), ex, "each row of the output is a probability "
                   "distribution", "rows summing to 1", short(inference.sum(axis=1)), "Dense(classes, activation='softmax')")
    passed(ex + " (hidden)", f"a fresh configuration (depth={depth}, width={width}, input {input_shape}, seed={seed})")


# --------------------------------------------------------------------------- fixtures and the registry
def _make_unit_fixtures(unit, exercise) -> dict:
    out = {}
    for i, (m, d, h) in enumerate(exercise.fixtures.configs):
        rng = np.random.default_rng(exercise.seed(i))
        arrays = {"X": rng.normal(0, 1, (m, d)), "W1": rng.normal(0, 1, (d, h)), "b1": rng.normal(0, 0.5, h),
                  "W2": rng.normal(0, 1, (h, d)), "b2": rng.normal(0, 0.5, d)}
        out.update({exercise.key(i, n): a for n, a in arrays.items()})
        args = [arrays[n] for n in ("X", "W1", "b1", "W2", "b2")]
        out[exercise.key(i, "plain")] = unit(*args, residual=False)
        out[exercise.key(i, "residual")] = unit(*args, residual=True)
    return out


def _make_norms_fixtures(norms, exercise) -> dict:
    out = {}
    for i, (m, d, h, units, scale) in enumerate(exercise.fixtures.configs):
        X, params, dout = _random_chain(np.random.default_rng(exercise.seed(i)), m, d, h, units, scale)
        out[exercise.key(i, "X")], out[exercise.key(i, "dout")] = X, dout
        for j, name in enumerate(("W1", "b1", "W2", "b2")):
            out[exercise.key(i, name)] = np.stack([p[j] for p in params])
        out[exercise.key(i, "plain")] = norms(X, params, dout, residual=False)
        out[exercise.key(i, "residual")] = norms(X, params, dout, residual=True)
    return out


def _make_cnn_fixtures(build_cnn, exercise) -> dict:
    keras = lazy_keras()
    init = deterministic_initializer()
    out = {}
    for i, (depth, residual, input_shape, classes, width) in enumerate(exercise.fixtures.configs):
        model = build_cnn(depth=depth, residual=residual, input_shape=input_shape, classes=classes, width=width,
                          initializer=init)
        x = np.random.default_rng(exercise.seed(i)).uniform(0, 1, (BATCH,) + input_shape).astype("float32")
        out[exercise.key(i, "x")] = x
        out[exercise.key(i, "params")] = np.array(model.count_params(), dtype=np.int64)
        out[exercise.key(i, "inference")] = keras.ops.convert_to_numpy(model(x, training=False))
        out[exercise.key(i, "training")] = keras.ops.convert_to_numpy(model(x, training=True))
    return out


_NOTEBOOK = "01_residual_learning"
EXERCISES = (
    Exercise("unit_forward", _NOTEBOOK, 10, unit_forward_test, unit_forward_hidden_test,
             Fixtures(RESIDUAL_FIXTURES.name, _make_unit_fixtures, tuple(UNIT_CONFIGS), seed=300)),
    Exercise("gradient_norms", _NOTEBOOK, 10, gradient_norms_test, gradient_norms_hidden_test,
             Fixtures(RESIDUAL_FIXTURES.name, _make_norms_fixtures, tuple(CHAIN_CONFIGS), seed=400)),
    Exercise("build_cnn", _NOTEBOOK, 10, build_cnn_test, build_cnn_hidden_test,
             Fixtures(RESIDUAL_FIXTURES.name, _make_cnn_fixtures, tuple(CNN_CONFIGS), seed=500)),
)
