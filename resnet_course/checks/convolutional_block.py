"""Notebook 3: convolutional_block and block_summary."""

from __future__ import annotations

import numpy as np

from ..exercise import Exercise, Fixtures
from ..expected import fresh_seed
from ..harness import call_learner, describe, failure, guarded, passed
from ..paths import FIXTURES
from .blocks import block_test, hidden_block_test, make_block_fixtures
from .common import lazy_keras, limit

# Fixed configurations; the fixtures hold the reference outputs for each.
# (input shape without the batch axis, f, filters, s)
CONV_CONFIGS = [((8, 8, 6), 3, [2, 4, 5], 2), ((7, 7, 3), 2, [3, 2, 6], 1), ((9, 9, 4), 3, [2, 3, 5], 3)]


def convolutional_block_test(target):
    """Check ``convolutional_block(X, f, filters, s, initializer)``."""
    __tracebackhide__ = True
    with guarded("convolutional_block"):
        block_test("convolutional_block", target, False, CONV_CONFIGS)


def convolutional_block_hidden_test(target, seed=None):
    """Re-check ``convolutional_block`` on a fresh random configuration against Keras's block."""
    __tracebackhide__ = True
    seed = fresh_seed(seed)
    with guarded("convolutional_block"):
        hidden_block_test("convolutional_block", target, False, seed)


# --------------------------------------------------------------------------- block_summary
# (input shape without the batch axis, f, filters, s): a projection with s=1 (conv2_x), an identity block,
# a stride that does not divide the size, and a projection that keeps the channels
SUMMARY_CONFIGS = [((16, 16, 64), 3, [64, 64, 256], 1), ((8, 8, 6), 3, [2, 4, 6], 1), ((9, 9, 4), 3, [2, 3, 5], 2),
                   ((7, 5, 3), 1, [3, 2, 3], 3)]
SUMMARY_RULE = ("sum the three convolutions (k * k * C_in * C_out weights + C_out biases each), 4 numbers per channel "
                "for each BatchNorm, and the projection's Conv2D and BatchNorm when there is one")


def _built_block_summary(input_shape, f, filters, s):
    """(output shape, projection, count_params) of the block built with Keras layers: the independent reference."""
    keras = lazy_keras()
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
    out = call_learner(ex, target, tuple(input_shape), f, list(filters), s, timeout=limit('numpy'))
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
        channels = f"the block's last convolution has F3 = {F3} filters, so the output has F3 channels"
        if got_shape is not None and len(got_shape) == 3 and got_shape[:2] == want_shape[:2]:
            hint = channels  # height and width are right (also when n // s happens to equal ceil(n / s))
        elif got_shape is not None and len(got_shape) == 3 and got_shape[:2] == (n_H // s, n_W // s):
            hint = ("a 1x1 convolution with stride s and no padding keeps ceil(n / s) rows and columns (the last, "
                    "incomplete step still produces one): use -(-n // s), not n // s")
            if got_shape[2] != F3:
                hint += "; and " + channels
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


EXERCISES = (
    Exercise("convolutional_block", "03_convolutional_block", 10, convolutional_block_test,
             convolutional_block_hidden_test, Fixtures(FIXTURES.name, make_block_fixtures, tuple(CONV_CONFIGS), seed=100)),
    Exercise("block_summary", "03_convolutional_block", 10, block_summary_test, block_summary_hidden_test),
)
