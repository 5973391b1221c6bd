"""Training and inference speed of the course's ResNet-50 against keras.applications.ResNet50.

Both models get the same input size, batch size, optimizer and input pipeline
(the shipped training images in a cached, prefetched ``tf.data`` pipeline).
Each measurement runs in a fresh Python process, so one model's graph, caches
and memory cannot help or hurt the other, and the order alternates between
runs (course, keras, keras, course, ...) so slow drifts of the machine cancel
out. The script prints images/s per run, the median and spread per model, the
ratio course / keras of the medians, and each process's peak resident memory.

The course model is the reference solution of the ``ResNet50`` exercise, run
from its source notebook (``source/04_resnet50``), with the identity and
convolutional blocks of the notebook's setup cell.

Usage (from the repository root)::

    python -m benchmarks.resnet50_speed              # 5 runs per model, about 8 minutes on 2 cores
    python -m benchmarks.resnet50_speed --runs 3 --train-steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

from benchmarks.common import MeasurementFailed, measure_in_fresh_process

MODELS = ("course", "keras")


def build(which: str, input_shape, classes: int):
    import keras

    if which == "keras":
        return keras.applications.ResNet50(weights=None, input_shape=input_shape, classes=classes)
    from tools.notebooks import load_solution

    return load_solution("ResNet50")(input_shape=input_shape, classes=classes)


def measure(which: str, size: int, batch: int, train_steps: int, infer_batches: int, seed: int) -> dict:
    """One process, one model: images/s for training and inference, and peak memory."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    import resnets_utils

    keras.utils.set_random_seed(seed)
    X, Y, _, _, classes = resnets_utils.load_dataset()
    X = X.astype("float32") / 255.0
    if size != X.shape[1]:
        X = tf.image.resize(X, (size, size)).numpy()
    y = Y.ravel()
    model = build(which, (size, size, 3), len(classes))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")

    train = (
        tf.data.Dataset.from_tensor_slices((X, y))
        .cache()
        .shuffle(len(X), seed=seed)
        .batch(batch, drop_remainder=True)
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )
    model.fit(train, epochs=1, steps_per_epoch=3, verbose=0)  # trace and warm up
    start = time.perf_counter()
    model.fit(train, epochs=1, steps_per_epoch=train_steps, verbose=0)
    train_ips = train_steps * batch / (time.perf_counter() - start)

    images = X[: infer_batches * batch]
    model.predict(images[:batch], batch_size=batch, verbose=0)  # warm up
    start = time.perf_counter()
    model.predict(images, batch_size=batch, verbose=0)
    infer_ips = len(images) / (time.perf_counter() - start)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return {
        "model": which,
        "train_ips": train_ips,
        "infer_ips": infer_ips,
        "peak_mb": peak_mb,
        "params": model.count_params(),
    }


def summarise(results: list[dict]) -> str:
    lines = []
    median = {}
    for which in MODELS:
        rows = [r for r in results if r["model"] == which]
        if not rows:
            continue
        train = [r["train_ips"] for r in rows]
        infer = [r["infer_ips"] for r in rows]
        peak = max(r["peak_mb"] for r in rows)
        median[which] = (statistics.median(train), statistics.median(infer))
        lines.append(
            f"{which:<7} train {median[which][0]:6.1f} img/s (min {min(train):.1f}, max {max(train):.1f})"
            f"   inference {median[which][1]:6.1f} img/s (min {min(infer):.1f}, max {max(infer):.1f})"
            f"   peak memory {peak:,.0f} MB   parameters {rows[0]['params']:,}"
        )
    if len(median) == 2:
        lines.append(
            f"ratio course/keras (medians): training {median['course'][0] / median['keras'][0]:.3f}"
            f"   inference {median['course'][1] / median['keras'][1]:.3f}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per model (default 5)")
    parser.add_argument("--size", type=int, default=64, help="image height and width (default 64)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--train-steps", type=int, default=15, help="timed training steps per run (default 15)")
    parser.add_argument("--infer-batches", type=int, default=30, help="timed inference batches per run (default 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", choices=MODELS, help=argparse.SUPPRESS)  # internal: measure in this process
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(measure(args.one, args.size, args.batch, args.train_steps, args.infer_batches, args.seed)))
        return 0

    print(
        f"ResNet-50 speed: {args.runs} runs per model, input {args.size}x{args.size}x3, batch {args.batch}, "
        f"{args.train_steps} training steps and {args.infer_batches} inference batches per run, "
        f"{os.cpu_count()} CPU cores",
        flush=True,
    )
    results = []
    for run in range(args.runs):
        order = MODELS if run % 2 == 0 else MODELS[::-1]
        for which in order:
            try:
                result = measure_in_fresh_process(
                    "benchmarks.resnet50_speed",
                    [
                        "--one",
                        which,
                        "--size",
                        str(args.size),
                        "--batch",
                        str(args.batch),
                        "--train-steps",
                        str(args.train_steps),
                        "--infer-batches",
                        str(args.infer_batches),
                        "--seed",
                        str(args.seed),
                    ],
                )
            except MeasurementFailed as error:
                print(error, file=sys.stderr)
                return 1
            results.append(result)
            print(
                f"run {run + 1}  {which:<7} train {result['train_ips']:6.1f} img/s   "
                f"inference {result['infer_ips']:6.1f} img/s   peak {result['peak_mb']:,.0f} MB",
                flush=True,
            )
    print(summarise(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
