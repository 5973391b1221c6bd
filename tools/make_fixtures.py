"""Make the expected values used by ``public_tests.py`` from the reference solutions.

The reference solutions are run from the nbgrader source notebooks (never from
a copy). Outputs are computed with the shape-seeded initializer of
``test_utils`` on fixed inputs, in inference and training mode.

Usage (from the repository root)::

    python -m tools.make_fixtures           # writes fixtures/core_exercises.npz
    python -m tools.make_fixtures --check   # recomputes and compares with the committed file
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def compute() -> dict[str, np.ndarray]:
    import keras

    import public_tests as pt
    from test_utils import deterministic_initializer

    from .notebooks import load_solution

    init = deterministic_initializer()
    out: dict[str, np.ndarray] = {}
    for name, configs in (("identity_block", pt.IDENTITY_CONFIGS), ("convolutional_block", pt.CONV_CONFIGS)):
        fn = load_solution(name)
        for i, cfg in enumerate(configs):
            shape, f, filters = cfg[:3]
            kwargs = {"f": f, "filters": filters, "initializer": init}
            if name == "convolutional_block":
                kwargs["s"] = cfg[3]
            inp = keras.Input(shape)
            model = keras.Model(inp, fn(inp, **kwargs))
            x = np.random.default_rng(100 + i).normal(0, 1, (pt.BATCH,) + shape).astype("float32")
            key = f"{name}__{i}"
            out[f"{key}__x"] = x
            out[f"{key}__inference"] = keras.ops.convert_to_numpy(model(x, training=False))
            out[f"{key}__training"] = keras.ops.convert_to_numpy(model(x, training=True))
    resnet = load_solution("ResNet50")
    for input_shape, classes in pt.RESNET_CONFIGS:
        key = f"ResNet50__params__{input_shape[0]}x{input_shape[1]}x{input_shape[2]}__{classes}"
        out[key] = np.array(resnet(input_shape=input_shape, classes=classes).count_params(), dtype=np.int64)
    return out


def differences(a: dict, b: dict, atol: float = 1e-5) -> list[str]:
    problems = [f"missing key {k}" for k in sorted(set(a) ^ set(b))]
    for k in sorted(set(a) & set(b)):
        if a[k].shape != b[k].shape or not np.allclose(a[k], b[k], atol=atol, rtol=1e-5):
            problems.append(f"{k} differs")
    return problems


def main(argv=None) -> int:
    from test_utils import FIXTURES, load_fixtures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed fixtures")
    args = parser.parse_args(argv)
    fresh = compute()
    if args.check:
        problems = differences(fresh, load_fixtures())
        print("\n".join(problems) or "fixtures match the reference solutions")
        return 1 if problems else 0
    FIXTURES.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(FIXTURES, **fresh)
    print(f"wrote {FIXTURES} ({len(fresh)} arrays)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
