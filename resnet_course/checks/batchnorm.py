"""Notebook 5: batchnorm_forward, batchnorm_backward and freeze_batchnorm."""

from __future__ import annotations

import numpy as np

from ..exercise import Exercise
from ..expected import fresh_seed
from ..harness import call_learner, describe, expect, failure, guarded, passed, short
from .common import close, expect_unchanged, lazy_keras, limit, one_training_step

# =========================================================================== BatchNorm
# (input shape, momentum, epsilon); the expected values come from keras.layers.BatchNormalization itself.
BN_CONFIGS = [((6, 3), 0.99, 1e-3), ((4, 3, 3, 2), 0.9, 0.5), ((2, 5, 4), 0.8, 1e-2)]
BN_FORMULA = "out = gamma * (x - mean) / sqrt(var + epsilon) + beta, with mean and var per channel (last axis)"


def _fresh_shape(rng):
    """A hidden test's input shape: 2 to 4 axes of 2 to 5 values each, the channels last."""
    return tuple(int(v) for v in rng.integers(2, 6, int(rng.integers(2, 5))))


def _bn_case(rng, shape):
    """Input, gamma, beta and moving statistics that differ clearly from the batch's statistics."""
    C = shape[-1]
    x = rng.normal(rng.uniform(-2, 2, C), rng.uniform(0.3, 2.0, C), shape)
    return (x, rng.uniform(0.5, 1.5, C), rng.normal(0, 0.5, C), rng.normal(0, 1, C), rng.uniform(0.5, 2.0, C))


def _keras_batchnorm(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon):
    """Output and moving statistics after one call of keras.layers.BatchNormalization (float64)."""
    keras = lazy_keras()
    layer = keras.layers.BatchNormalization(axis=-1, momentum=momentum, epsilon=epsilon, dtype="float64")
    layer.build(x.shape)
    layer.set_weights([np.asarray(w, np.float64) for w in (gamma, beta, moving_mean, moving_var)])
    out = keras.ops.convert_to_numpy(layer(x, training=training))
    return out, layer.moving_mean.numpy(), layer.moving_variance.numpy()


def _bn_formula(x, gamma, beta, mean, var, epsilon, outside=False):
    """BatchNorm's output for given statistics; ``outside`` puts epsilon outside the square root (a mistake)."""
    scale = np.sqrt(var) + epsilon if outside else np.sqrt(var + epsilon)
    return gamma * (x - mean) / scale + beta


FORWARD_RESULT = ("out", "new_moving_mean", "new_moving_var")
BACKWARD_RESULT = ("dx", "dgamma", "dbeta")


def _expect_bn_result(ex, out, shape, names=FORWARD_RESULT):
    """The three arrays a BatchNorm exercise returns: the first of the shape of x, the others one per channel."""
    __tracebackhide__ = True
    C = shape[-1]
    returned = ", ".join(names)
    also = " (also in inference mode)" if names == FORWARD_RESULT else ""
    if out is None:
        raise failure(ex, "the function returned None", f"({returned})", "None",
                      f"end the function with `return {returned}`")
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        got = describe(out) if not isinstance(out, (tuple, list)) else f"{len(out)} values"
        raise failure(ex, "the function returns three values", f"({returned})", got, f"return {returned}{also}")
    arrays = []
    for value, name, want in zip(out, names, (tuple(shape), (C,), (C,))):
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise failure(ex, f"{name} must be numbers", f"a NumPy array of shape {want}", describe(value)) from None
        if name == names[0]:
            hint = f"{name} has the shape of x"
        else:
            what = "statistics are" if names == FORWARD_RESULT else f"{name} is"
            hint = f"{what} per channel: sum or average over every axis except the last, axis=tuple(range(x.ndim - 1))"
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
    result = call_learner(ex, target, *case, training=False, momentum=momentum, epsilon=epsilon, timeout=limit('numpy'))
    expect_unchanged(ex, copies, case, names)
    out, new_mm, new_mv = _expect_bn_result(ex, result, x.shape)
    if not close(out, ref_infer[0]):
        hint = f"at inference, {BN_FORMULA.replace('mean and var per channel (last axis)', 'mean = moving_mean, var = moving_var')}"
        if close(out, ref_train[0]):
            hint = ("with training=False BatchNorm normalises with the moving statistics, not with the batch's "
                    "own mean and variance")
        elif close(out, _bn_formula(x, gamma, beta, mm, mv, epsilon, outside=True)):
            hint = "epsilon goes inside the square root: (x - mean) / sqrt(var + epsilon)"
        raise failure(ex, f"out with training=False {where} ({settings})", short(ref_infer[0]), short(out), hint)
    if not (close(new_mm, mm) and close(new_mv, mv)):
        hint = "return moving_mean and moving_var unchanged when training is False"
        if close(new_mm, ref_train[1]):
            hint = ("the moving statistics are updated only in training mode; with training=False "
                    "return them unchanged")
        raise failure(ex, f"moving statistics returned with training=False {where}",
                      f"unchanged: mean {short(mm)}, var {short(mv)}", f"mean {short(new_mm)}, var {short(new_mv)}", hint)

    # Training mode: batch statistics, moving statistics updated.
    copies = [np.array(a, copy=True) for a in case]
    result = call_learner(ex, target, *case, training=True, momentum=momentum, epsilon=epsilon, timeout=limit('numpy'))
    expect_unchanged(ex, copies, case, names)
    out, new_mm, new_mv = _expect_bn_result(ex, result, x.shape)
    m = int(np.prod(x.shape[:-1]))      # values per channel
    if not close(out, ref_train[0]):
        hint = f"in training mode, {BN_FORMULA}, over every axis except the last"
        if close(out, _bn_formula(x, gamma, beta, mean, var * m / (m - 1), epsilon)):
            hint = ("use the biased variance (divide by the number of values, np.var's default ddof=0), "
                    "as Keras does; ddof=1 is what PyTorch stores in its running variance, not what it normalises with")
        elif close(out, _bn_formula(x, gamma, beta, mean, var, epsilon, outside=True)):
            hint = "epsilon goes inside the square root: (x - mean) / sqrt(var + epsilon)"
        elif close(out, ref_infer[0]):
            hint = "with training=True BatchNorm normalises with the batch's own mean and variance, not the moving ones"
        raise failure(ex, f"out with training=True {where} ({settings})", short(ref_train[0]), short(out), hint)
    for got, want, old, stat, name in ((new_mm, ref_train[1], mm, mean, "new_moving_mean"),
                                       (new_mv, ref_train[2], mv, var, "new_moving_var")):
        if close(got, want):
            continue
        hint = "new = momentum * moving + (1 - momentum) * batch statistic"
        if close(got, (1 - momentum) * old + momentum * stat):
            hint = ("momentum weights the OLD moving average: new = momentum * moving + (1 - momentum) * batch "
                    "statistic (with momentum=0.99 each batch moves it by 1 %)")
        elif name == "new_moving_var" and close(got, momentum * old + (1 - momentum) * stat * m / (m - 1)):
            hint = "Keras updates the moving variance with the same biased batch variance it normalises with (ddof=0)"
        elif close(got, old):
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
        result = call_learner(ex, target, x, gamma, beta, mm, mv, training=True, timeout=limit('numpy'))
        out, new_mm, new_mv = _expect_bn_result(ex, result, x.shape)
        expect(close(out, ref[0]) and close(new_mm, ref[1]) and close(new_mv, ref[2]), ex,
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
    shape = _fresh_shape(rng)
    momentum, epsilon = float(rng.choice([0.5, 0.9, 0.99])), float(rng.choice([1e-3, 0.1, 1.0]))
    with guarded(ex):
        _check_batchnorm(ex, target, _bn_case(rng, shape), momentum, epsilon, f"for a fresh x of shape {shape} (seed={seed})")
    passed(ex + " (hidden)", "a fresh shape, momentum and epsilon against keras.layers.BatchNormalization")


# --------------------------------------------------------------------------- batchnorm_backward
# (input shape, epsilon); the expected gradients come from tf.GradientTape on keras.layers.BatchNormalization.
BN_BACKWARD_CONFIGS = [((6, 3), 1e-3), ((4, 3, 3, 2), 0.5), ((2, 5, 4), 1e-2)]
DX_FORMULA = "dx = gamma / sqrt(var + epsilon) * (dout - mean(dout) - x_hat * mean(dout * x_hat)), means per channel"


def _keras_batchnorm_gradients(dout, x, gamma, epsilon):
    """dL/dx, dL/dgamma, dL/dbeta of L = sum(dout * BatchNormalization(x, training=True)), by tf.GradientTape."""
    import tensorflow as tf

    keras = lazy_keras()
    C = x.shape[-1]
    layer = keras.layers.BatchNormalization(axis=-1, epsilon=epsilon, dtype="float64")
    layer.build(x.shape)
    layer.set_weights([np.asarray(gamma, np.float64), np.zeros(C), np.zeros(C), np.ones(C)])
    x_var = tf.Variable(np.asarray(x, np.float64))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.constant(dout, tf.float64) * layer(x_var, training=True))
    return [np.asarray(g, np.float64) for g in tape.gradient(loss, [x_var, layer.gamma, layer.beta])]


def _finite_differences(f, a, h=1e-6):
    """The gradient of the scalar function ``f`` at the float64 array ``a`` by central differences."""
    a = np.array(a, np.float64)
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        up = f(a)
        a[i] = old - h
        grad[i] = (up - f(a)) / (2 * h)
        a[i] = old
    return grad


def _numeric_gradients(dout, x, gamma, epsilon):
    """The same three gradients by central differences of a NumPy forward pass (a second, independent reference)."""
    axes = tuple(range(x.ndim - 1))
    beta = np.zeros(x.shape[-1])

    def loss(x, gamma, beta):
        return float(np.sum(dout * _bn_formula(x, gamma, beta, x.mean(axis=axes), x.var(axis=axes), epsilon)))

    return (_finite_differences(lambda v: loss(v, gamma, beta), x),
            _finite_differences(lambda v: loss(x, v, beta), gamma),
            _finite_differences(lambda v: loss(x, gamma, v), beta))


def _bn_backward_formula(dout, x, gamma, epsilon, var=None, outside=False, mean_path=True, var_path=True, axes=None):
    """dx for the training-mode output; the keyword arguments reproduce the usual mistakes."""
    axes = tuple(range(x.ndim - 1)) if axes is None else axes
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True) if var is None else var
    std = np.sqrt(var) + epsilon if outside else np.sqrt(var + epsilon)
    x_hat = (x - mean) / std
    g = dout
    if mean_path:
        g = g - dout.mean(axis=axes, keepdims=True)
    if var_path:
        g = g - x_hat * (dout * x_hat).mean(axis=axes, keepdims=True)
    return gamma / std * g


def _dx_hint(dout, x, gamma, epsilon, got):
    """The most likely cause of a wrong dx, found by trying the usual mistakes."""
    axes = tuple(range(x.ndim - 1))
    m = int(np.prod(x.shape[:-1]))
    unbiased = x.var(axis=axes, keepdims=True) * m / (m - 1)
    candidates = [
        (dict(mean_path=False, var_path=False),
         "that is the gradient with the mean and variance held fixed (inference mode). In training mode they are "
         "computed from x, so the gradient also flows through them: subtract mean(dout) and x_hat * mean(dout * x_hat)"),
        (dict(mean_path=False),
         "the path through the batch mean is missing: subtract mean(dout), per channel, from dout"),
        (dict(var_path=False),
         "the path through the batch variance is missing: subtract x_hat * mean(dout * x_hat), per channel"),
        (dict(var=unbiased), "use the biased variance (divide by the number of values, np.var's default ddof=0), "
                             "as the forward pass does"),
        (dict(outside=True), "epsilon goes inside the square root: sqrt(var + epsilon)"),
        (dict(axes=0), "the means are per channel, over every axis except the last: axis=tuple(range(x.ndim - 1))"),
    ]
    for kwargs, hint in candidates:
        if close(got, _bn_backward_formula(dout, x, gamma, epsilon, **kwargs)):
            return hint
    if close(got, _bn_backward_formula(dout, x, np.ones_like(gamma), epsilon)):
        return "dx carries the factor gamma: out = gamma * x_hat + beta"
    return DX_FORMULA


def _check_backward(ex, target, case, epsilon, where, numeric=False):
    __tracebackhide__ = True
    dout, x, gamma = case
    axes = tuple(range(x.ndim - 1))
    ref = _keras_batchnorm_gradients(dout, x, gamma, epsilon)
    copies = [np.array(a, copy=True) for a in case]
    result = call_learner(ex, target, *case, epsilon=epsilon, timeout=limit('numpy'))
    expect_unchanged(ex, copies, case, ["dout", "x", "gamma"])
    dx, dgamma, dbeta = _expect_bn_result(ex, result, x.shape, BACKWARD_RESULT)
    settings = f"epsilon={epsilon}"
    if not close(dbeta, ref[2]):
        hint = "beta is added to every value of its channel: dbeta = dout.sum(axis=tuple(range(x.ndim - 1)))"
        if close(dbeta, ref[1]) and close(dgamma, ref[2]):
            hint = "dgamma and dbeta are swapped: return dx, dgamma, dbeta in this order"
        elif close(dbeta, dout.mean(axis=axes)):
            hint = "dbeta is the sum of dout over the channel's values, not their mean"
        raise failure(ex, f"dbeta {where}", short(ref[2]), short(dbeta), hint)
    if not close(dgamma, ref[1]):
        hint = "gamma multiplies x_hat = (x - mean) / sqrt(var + epsilon): dgamma = sum of dout * x_hat per channel"
        if close(dgamma, (dout * x).sum(axis=axes)):
            hint = "gamma multiplies the normalised x_hat = (x - mean) / sqrt(var + epsilon), not x itself"
        elif close(dgamma, (dout * (x - x.mean(axis=axes)) / (x.std(axis=axes) + epsilon)).sum(axis=axes)):
            hint = "epsilon goes inside the square root: x_hat = (x - mean) / sqrt(var + epsilon)"
        elif close(dgamma, (dout * (x - x.mean(axis=axes)) / np.sqrt(x.var(axis=axes, ddof=1) + epsilon)).sum(axis=axes)):
            hint = ("use the biased variance (divide by the number of values, np.var's default ddof=0), "
                    "as the forward pass does")
        raise failure(ex, f"dgamma {where} ({settings})", short(ref[1]), short(dgamma), hint)
    if not close(dx, ref[0]):
        raise failure(ex, f"dx {where} ({settings})", short(ref[0]), short(dx), _dx_hint(dout, x, gamma, epsilon, dx))
    if numeric:
        for got, want, name in zip((dx, dgamma, dbeta), _numeric_gradients(dout, x, gamma, epsilon), BACKWARD_RESULT):
            expect(close(got, want), ex, f"{name} {where} against central finite differences of the forward pass",
                   short(want), short(got), DX_FORMULA)


def _backward_case(rng, shape):
    """Upstream gradient, input and gamma; dout's mean and its correlation with x are far from 0 in every channel."""
    x = _bn_case(rng, shape)[0]
    C = shape[-1]
    dout = rng.normal(rng.uniform(-1, 1, C), 1.0, shape) + rng.uniform(-1, 1, C) * x
    return dout, x, rng.uniform(0.5, 1.5, C)


def batchnorm_backward_test(target):
    """Check ``batchnorm_backward`` against tf.GradientTape on keras.layers.BatchNormalization (and finite differences)."""
    __tracebackhide__ = True
    ex = "batchnorm_backward"
    with guarded(ex):
        for i, (shape, epsilon) in enumerate(BN_BACKWARD_CONFIGS):
            case = _backward_case(np.random.default_rng(620 + i), shape)
            _check_backward(ex, target, case, epsilon, f"for x of shape {shape}", numeric=i == 0)
        dout, x, gamma = _backward_case(np.random.default_rng(630), (5, 2))
        ref = _keras_batchnorm_gradients(dout, x, gamma, 1e-3)
        result = call_learner(ex, target, dout, x, gamma, timeout=limit('numpy'))
        got = _expect_bn_result(ex, result, x.shape, BACKWARD_RESULT)
        expect(all(close(a, b) for a, b in zip(got, ref)), ex, "gradients with the default epsilon",
               "epsilon=1e-3 (the Keras default)", f"dx {short(got[0])}",
               "keep the default of the signature: epsilon=1e-3")
    passed(ex, f"dx, dgamma and dbeta against tf.GradientTape on keras.layers.BatchNormalization, "
               f"{len(BN_BACKWARD_CONFIGS)} configurations, and central finite differences")


def batchnorm_backward_hidden_test(target, seed=None):
    """Re-check ``batchnorm_backward`` on a fresh shape and epsilon against tf.GradientTape."""
    __tracebackhide__ = True
    ex = "batchnorm_backward"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    shape = _fresh_shape(rng)
    epsilon = float(rng.choice([1e-3, 0.1, 1.0]))
    with guarded(ex):
        _check_backward(ex, target, _backward_case(rng, shape), epsilon, f"for a fresh x of shape {shape} (seed={seed})")
    passed(ex + " (hidden)", "a fresh shape and epsilon against tf.GradientTape")


# --------------------------------------------------------------------------- freeze_batchnorm
def _freeze_probe(rng, names):
    """A model with BatchNorm layers at the top level, in a nested Sequential and two models deep.

    Returns ``(model, bns, others, nested)``: the BatchNorm layers with where they sit, the other
    layers, and the nested models.
    """
    keras = lazy_keras()
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
    keras = lazy_keras()
    rng = np.random.default_rng(seed)
    names = [str(v) for v in rng.permutation(900) + 100]
    model, bns, others, nested = _freeze_probe(rng, names)
    count = call_learner(ex, target, model, timeout=limit('block'))
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
    expect(close(train, infer), ex, "outputs with training=True and training=False after freezing",
           "equal (every BatchNorm in inference mode)", f"{short(train)} vs {short(infer)}",
           "a BatchNormalization layer with trainable=False always uses its moving statistics")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    trained = {id(w) for w in model.trainable_weights}
    untrained = [layer.name for layer in others if not all(id(w) in trained for w in layer.trainable_weights)]
    expect(not untrained, ex, "fit after freezing still trains the other layers (their weights stay trainable)",
           "every weight of the other layers among model.trainable_weights", f"not those of {untrained[:3]}",
           "freeze only the BatchNormalization layers")
    weights = [np.array(w.numpy(), copy=True) for layer in others for w in layer.weights]
    one_training_step(model, x, rng.normal(0, 1, (4, 3)))
    moved = [bn.name for (bn, _), a, b in zip(bns, before, _bn_state(bns)) if not np.allclose(a, b)]
    expect(not moved, ex, "fit after freezing changes no BatchNorm weight (gamma, beta, moving statistics)",
           "no change", f"{moved} changed", "set trainable = False on the layer itself")
    # Some weight of the other layers moves (not necessarily the first: a ReLU can leave it without gradient).
    now = [w.numpy() for layer in others for w in layer.weights]
    expect(any(not np.allclose(a, b) for a, b in zip(weights, now)), ex, "fit after freezing still trains the other layers",
           "their weights change", "unchanged", "freeze only the BatchNormalization layers")


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


EXERCISES = (
    Exercise("batchnorm_forward", "05_batchnorm", 10, batchnorm_forward_test, batchnorm_forward_hidden_test),
    Exercise("batchnorm_backward", "05_batchnorm", 10, batchnorm_backward_test, batchnorm_backward_hidden_test),
    Exercise("freeze_batchnorm", "05_batchnorm", 10, freeze_batchnorm_test, freeze_batchnorm_hidden_test),
)
