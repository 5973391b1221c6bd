"""Make the expected values used by ``public_tests.py`` from the reference solutions.

The reference solutions are run from the nbgrader source notebooks (never from
a copy). Keras outputs are computed with the shape-seeded initializer of
``test_utils`` on fixed inputs, in inference and training mode; the NumPy
exercises get seeded random inputs, stored beside their expected outputs.

One file per group of exercises (``FILES``): ``core_exercises.npz`` for the
three ResNet-50 exercises, ``residual_learning.npz`` for the residual-learning
notebook.

Usage (from the repository root)::

    python -m tools.make_fixtures           # writes fixtures/*.npz
    python -m tools.make_fixtures --check   # recomputes and compares with the committed files
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


def compute_residual_learning() -> dict[str, np.ndarray]:
    """Inputs and reference outputs of unit_forward, gradient_norms and build_cnn."""
    import keras

    import public_tests as pt
    from test_utils import deterministic_initializer

    from .notebooks import load_solution

    out: dict[str, np.ndarray] = {}
    unit = load_solution("unit_forward")
    for i, (m, d, h) in enumerate(pt.UNIT_CONFIGS):
        rng = np.random.default_rng(300 + i)
        key = f"unit_forward__{i}"
        arrays = {"X": rng.normal(0, 1, (m, d)), "W1": rng.normal(0, 1, (d, h)), "b1": rng.normal(0, 0.5, h),
                  "W2": rng.normal(0, 1, (h, d)), "b2": rng.normal(0, 0.5, d)}
        out.update({f"{key}__{n}": a for n, a in arrays.items()})
        args = [arrays[n] for n in ("X", "W1", "b1", "W2", "b2")]
        out[f"{key}__plain"] = unit(*args, residual=False)
        out[f"{key}__residual"] = unit(*args, residual=True)

    norms = load_solution("gradient_norms")
    for i, (m, d, h, units, scale) in enumerate(pt.CHAIN_CONFIGS):
        X, params, dout = pt._random_chain(np.random.default_rng(400 + i), m, d, h, units, scale)
        key = f"gradient_norms__{i}"
        out[f"{key}__X"], out[f"{key}__dout"] = X, dout
        for j, name in enumerate(("W1", "b1", "W2", "b2")):
            out[f"{key}__{name}"] = np.stack([p[j] for p in params])
        out[f"{key}__plain"] = norms(X, params, dout, residual=False)
        out[f"{key}__residual"] = norms(X, params, dout, residual=True)

    build_cnn = load_solution("build_cnn")
    init = deterministic_initializer()
    for i, (depth, residual, input_shape, classes, width) in enumerate(pt.CNN_CONFIGS):
        model = build_cnn(depth=depth, residual=residual, input_shape=input_shape, classes=classes, width=width,
                          initializer=init)
        x = np.random.default_rng(500 + i).uniform(0, 1, (pt.BATCH,) + input_shape).astype("float32")
        key = f"build_cnn__{i}"
        out[f"{key}__x"] = x
        out[f"{key}__params"] = np.array(model.count_params(), dtype=np.int64)
        out[f"{key}__inference"] = keras.ops.convert_to_numpy(model(x, training=False))
        out[f"{key}__training"] = keras.ops.convert_to_numpy(model(x, training=True))
    return out


def files() -> dict:
    """Each fixture file and the function that computes its arrays."""
    from test_utils import FIXTURES, RESIDUAL_FIXTURES

    return {FIXTURES: compute, RESIDUAL_FIXTURES: compute_residual_learning}


def differences(a: dict, b: dict, atol: float = 1e-5) -> list[str]:
    problems = [f"missing key {k}" for k in sorted(set(a) ^ set(b))]
    for k in sorted(set(a) & set(b)):
        if a[k].shape != b[k].shape or not np.allclose(a[k], b[k], atol=atol, rtol=1e-5):
            problems.append(f"{k} differs")
    return problems


def main(argv=None) -> int:
    from test_utils import load_fixtures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed fixtures")
    args = parser.parse_args(argv)
    problems = []
    for path, make in files().items():
        fresh = make()
        if args.check:
            problems += [f"{path.name}: {p}" for p in differences(fresh, load_fixtures(path))]
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **fresh)
        print(f"wrote {path} ({len(fresh)} arrays)")
    if args.check:
        print("\n".join(problems) or "fixtures match the reference solutions")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
