"""Notebook 5: batchnorm_forward and freeze_batchnorm."""

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
    Exercise("freeze_batchnorm", "05_batchnorm", 10, freeze_batchnorm_test, freeze_batchnorm_hidden_test),
)
