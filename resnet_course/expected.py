"""Deterministic initializer, fresh seeds and the expected values (resnet_course/fixtures/) the checks compare with."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .harness import failure
from .paths import FIXTURES


# --------------------------------------------------------------------------- initializer
def deterministic_initializer():
    """Return the class of a Keras initializer whose values depend only on the weight's shape.

    It accepts (and ignores) ``seed`` so it can be used exactly like
    ``keras.initializers.GlorotUniform``: either ``initializer(seed=0)`` or the
    class itself. Two layers of the same shape get the same weights, which makes
    expected outputs independent of the order in which layers are created.
    """
    import keras

    class ShapeSeededInitializer(keras.initializers.Initializer):
        def __init__(self, seed=None, **kwargs):
            self.seed = seed

        def __call__(self, shape, dtype=None, **kwargs):
            shape = tuple(int(s) for s in shape)
            n = int(np.prod(shape))
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else n
            phase = 0.7 * len(shape) + 0.013 * sum(shape)
            values = np.sin(0.61 * np.arange(n) + phase) + 0.25 * np.cos(1.37 * np.arange(n))
            values = values * math.sqrt(4.0 / max(fan_in, 1))
            return keras.ops.convert_to_tensor(values.reshape(shape), dtype=dtype or "float32")

        def get_config(self):
            return {"seed": self.seed}

    return ShapeSeededInitializer


# --------------------------------------------------------------------------- fixtures
def fresh_seed(seed: int | None = None) -> int:
    """``seed`` itself, or a new seed from the operating system's entropy when it is ``None``.

    The hidden tests draw their configuration from it, so each grading run checks a
    configuration the learner has not seen; a fixed ``seed`` reproduces one run.
    The bound 2**31 keeps it valid for every seeding API (NumPy, Keras, TensorFlow).
    """
    return int(np.random.SeedSequence().entropy % 2**31) if seed is None else int(seed)


def load_fixtures(path: Path | None = None, exercise: str = "course set-up") -> dict:
    """Load the expected values (made by ``python -m tools.make_fixtures``)."""
    __tracebackhide__ = True
    path = path or FIXTURES
    if not path.is_file():
        raise failure(
            exercise,
            "the file of expected values the tests compare with",
            str(path),
            "no such file",
            "restore it with `git checkout -- resnet_course/fixtures/` or rebuild it with `python -m tools.make_fixtures`",
        )
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
