"""What the checks of several notebooks share: tolerances, time limits, returned tensors and models."""

from __future__ import annotations

import contextvars
import logging
from contextlib import contextmanager

import numpy as np

from ..harness import describe, expect, failure, short
from ..keras_internals import producer, walk_nodes
from ..weights import copy_weights

BATCH = 3                 # examples per batch of the fixed inputs
TOLERANCE = "|got - expected| <= 1e-4 + 1e-4 * max|expected|"
BN_EPSILON = 1.001e-5     # what keras.applications.ResNet50 uses

# Seconds a learner's function may run before the check stops it (``call_learner``'s ``timeout``):
# a block or a small model, a whole ResNet-50 or transfer model, a NumPy exercise on small inputs.
TIME_LIMITS = {"block": 120.0, "model": 600.0, "numpy": 60.0}
_LIMITS = contextvars.ContextVar("time_limits", default=TIME_LIMITS)


def limit(what: str) -> float:
    """The time limit of a kind of call (``TIME_LIMITS``), as set by the innermost ``time_limits``."""
    return _LIMITS.get()[what]


@contextmanager
def time_limits(**seconds: float):
    """Run checks with other time limits, e.g. ``with time_limits(block=5.0):`` (the mutation score does)."""
    unknown = set(seconds) - set(TIME_LIMITS)
    if unknown:
        raise KeyError(f"unknown time limits {sorted(unknown)}; known: {sorted(TIME_LIMITS)}")
    token = _LIMITS.set({**_LIMITS.get(), **seconds})
    try:
        yield
    finally:
        _LIMITS.reset(token)


def architecture_of(target):
    """``target`` for a check that copies weights of its own into every layer of the model it returns: in the
    sandboxed grader the student's function whose models come back without their weights (``grading.judge``'s
    ``Proxy.architecture``: a ResNet-50's 94 MB need not cross), in the learner's kernel the function itself."""
    return getattr(target, "architecture", target)


def lazy_keras():
    import keras

    return keras


def close(got, expected) -> bool:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return False
    return float(np.max(np.abs(got - expected), initial=0.0)) <= 1e-4 + 1e-4 * float(np.max(np.abs(expected), initial=0.0))


def fmt_shape(shape) -> str:
    return str(tuple(shape))


# --------------------------------------------------------------------------- what was returned
def expect_tensor(ex, out, inp):
    __tracebackhide__ = True
    keras = lazy_keras()
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


def expect_model(ex, model):
    __tracebackhide__ = True
    keras = lazy_keras()
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


def recorded_training(model) -> list[str]:
    """Names of the layers that were called with ``training=True`` while the model was built."""
    return [op.name for op, node in walk_nodes(model.outputs)
            if getattr(getattr(node, "arguments", None), "kwargs", {}).get("training") is True]


def compare_modes(ex, model, x, expected_inference, expected_training, where):
    """Compare a model's outputs with a bare call, training=False and training=True."""
    __tracebackhide__ = True
    keras = lazy_keras()
    bare = keras.ops.convert_to_numpy(model(x))
    inference = keras.ops.convert_to_numpy(model(x, training=False))
    if not close(bare, expected_inference):
        hint = "compare your layers with the specification"
        if close(bare, expected_training) or recorded_training(model):
            hint = ("calling the model without `training` ran BatchNorm in training mode: don't pass training=True "
                    "to BatchNormalization; the mode must come from the call (fit, predict, model(x, training=...))")
        raise failure(ex, f"values {where} when called as model(x) (BatchNorm in inference mode)",
                      short(expected_inference), short(bare), hint)
    expect(close(inference, expected_inference), ex, f"values {where} with training=False",
           short(expected_inference), short(inference), "compare your layers with the specification")
    training = keras.ops.convert_to_numpy(model(x, training=True))
    expect(close(training, expected_training), ex, f"values {where} with training=True (batch statistics)",
           short(expected_training), short(training),
           "in training mode BatchNorm uses the batch's statistics; check that each BatchNorm follows its Conv2D "
           f"and that the shortcut is added before the final ReLU (tolerance: {TOLERANCE})")


def randomize(model, rng):
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


def copy_reference(ex, reference, model, check, hint):
    """Copy ``reference``'s weights into the learner's ``model`` layer for layer; a layer that does not match is the
    learner's failure, with ``check`` and ``hint`` saying what was compared and where to look."""
    __tracebackhide__ = True
    try:
        copy_weights(reference, model)
    except ValueError as exc:
        raise failure(ex, check, "the same layers with the same weight shapes", str(exc), hint) from None


def rel_close(got, expected, rtol=1e-4) -> bool:
    """Entry-wise relative comparison, for numbers that span many orders of magnitude."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return False
    floor = 1e-12 * float(np.max(np.abs(expected), initial=0.0))
    return bool(np.all(np.abs(got - expected) <= rtol * np.abs(expected) + floor))


def expect_array(ex, out, shape, var, what):
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


def expect_unchanged(ex, before, after, names):
    __tracebackhide__ = True
    for name, a, b in zip(names, before, after):
        if not np.array_equal(np.asarray(a), np.asarray(b)):
            raise failure(ex, f"the function changed its argument {name}", "the caller's arrays unchanged",
                          f"{name} was modified in place",
                          f"build new arrays (new = {name} + ...) instead of changing an argument in place "
                          f"({name} += ..., {name}[...] = ...)")


def one_training_step(model, x, y):
    """One training step of ``model`` on ``x``, run eagerly: the same weights train as in a compiled step, without
    the seconds of tracing one (the model's own ``run_eagerly`` is put back)."""
    tf_logger = logging.getLogger("tensorflow")     # a notebook that fits many models gets retracing warnings
    level, eager = tf_logger.level, model.run_eagerly
    tf_logger.setLevel(logging.ERROR)
    try:
        model.run_eagerly = True
        model.fit(x, y, epochs=1, batch_size=len(x), verbose=0)
    finally:
        model.run_eagerly = eager
        tf_logger.setLevel(level)
