"""What the input pipeline, thread settings and eager execution do to ResNet-50 training on a CPU.

Each configuration trains ``keras.applications.ResNet50`` (weights=None, the
graph the course's ``ResNet50`` reproduces) on the shipped 64x64 training
images, batch 32, Adam, in a fresh Python process, and reports two numbers:

* ``first``: seconds from ``compile`` to the end of the first 3 training steps,
  tracing included; this is what fast mode (nbgrader's grading) pays, since it
  trains only a few batches;
* ``steady``: images/s over the next ``--train-steps`` steps, which is what
  full mode pays for most of its time.

Configurations (``notebook`` is the pipeline of the ResNet-50 notebook):

=================  ==========================================================
notebook           float64 arrays / 255 -> ``tf.data``: shuffle, batch, random
                   flip in ``map`` (parallel), prefetch; TensorFlow's default
                   thread pools
float32            the same with the images cast to float32 before ``tf.data``
cache              the same with ``.cache()`` after ``from_tensor_slices``
no_augment         the same without the flip (what augmentation costs)
numpy              no ``tf.data``: ``fit(x, y, batch_size=32, shuffle=True)``
threads_1          ``notebook`` with one intra-op and one inter-op thread
threads_2_1        ``notebook`` with 2 intra-op threads and 1 inter-op thread
eager              ``notebook`` with ``run_eagerly=True``
=================  ==========================================================

The order of configurations rotates from run to run so that slow drifts of
the machine spread over all of them. The script prints each run, then the
median and spread per configuration and the ratio of each median to
``notebook``'s.

Usage (from the repository root)::

    python -m benchmarks.training_setup                   # 3 runs of every configuration, about 14 minutes on 2 cores
    python -m benchmarks.training_setup --configs notebook eager --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from benchmarks.common import MeasurementFailed, measure_in_fresh_process

CONFIGS = ("notebook", "float32", "cache", "no_augment", "numpy", "threads_1", "threads_2_1", "eager")
WARM_STEPS = 3


def measure(config: str, batch: int, train_steps: int, seed: int) -> dict:
    """One process, one configuration: seconds to the end of the first steps, then steady images/s."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    import resnets_utils

    if config == "threads_1":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    elif config == "threads_2_1":
        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(1)

    keras.utils.set_random_seed(seed)
    X, Y, _, _, classes = resnets_utils.load_dataset()
    X = X / 255.0  # float64, as in the notebook
    if config == "float32":
        X = X.astype("float32")
    Y = keras.utils.to_categorical(Y.ravel(), len(classes))
    needed = (WARM_STEPS + train_steps) * batch
    reps = -(-needed // len(X))  # enough data for both phases without repeat()
    X, Y = np.concatenate([X] * reps), np.concatenate([Y] * reps)

    def pipeline(x, y):
        data = tf.data.Dataset.from_tensor_slices((x, y))
        if config == "cache":
            data = data.cache()
        data = data.shuffle(len(x), seed=seed).batch(batch, drop_remainder=True)
        if config != "no_augment":
            flip = keras.layers.RandomFlip("horizontal", seed=1)
            data = data.map(lambda a, b: (flip(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
        return data.prefetch(tf.data.AUTOTUNE)

    model = keras.applications.ResNet50(weights=None, input_shape=X.shape[1:], classes=len(classes))
    start = time.perf_counter()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", run_eagerly=config == "eager")
    first_x, first_y = X[: WARM_STEPS * batch], Y[: WARM_STEPS * batch]
    rest_x, rest_y = X[WARM_STEPS * batch : needed], Y[WARM_STEPS * batch : needed]
    if config == "numpy":
        model.fit(first_x, first_y, batch_size=batch, shuffle=True, verbose=0)
        first = time.perf_counter() - start
        start = time.perf_counter()
        model.fit(rest_x, rest_y, batch_size=batch, shuffle=True, verbose=0)
    else:
        model.fit(pipeline(first_x, first_y), verbose=0)
        first = time.perf_counter() - start
        start = time.perf_counter()
        model.fit(pipeline(rest_x, rest_y), verbose=0)
    steady = train_steps * batch / (time.perf_counter() - start)
    return {"config": config, "first_s": first, "steady_ips": steady}


def summarise(results: list[dict], configs) -> str:
    lines = [f"{'configuration':<14} {'first 3 steps, s':>24}   {'steady training, img/s':>28}   ratio to notebook"]
    medians = {}
    for config in configs:
        rows = [r for r in results if r["config"] == config]
        if not rows:
            continue
        first = [r["first_s"] for r in rows]
        steady = [r["steady_ips"] for r in rows]
        medians[config] = (statistics.median(first), statistics.median(steady))
        lines.append(
            f"{config:<14} {medians[config][0]:7.1f} (min {min(first):5.1f}, max {max(first):5.1f})"
            f"   {medians[config][1]:7.1f} (min {min(steady):5.1f}, max {max(steady):5.1f})"
        )
    if "notebook" in medians:
        base_first, base_steady = medians["notebook"]
        for i, config in enumerate(c for c in configs if c in medians):
            first, steady = medians[config]
            lines[i + 1] += f"   first {first / base_first:.2f}  steady {steady / base_steady:.2f}"
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--runs", type=int, default=3, help="processes per configuration (default 3)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=15, help="timed steady steps per run (default 15)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", choices=CONFIGS, help=argparse.SUPPRESS)  # internal: measure in this process
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(measure(args.one, args.batch, args.train_steps, args.seed)))
        return 0

    print(
        f"ResNet-50 training set-ups: {args.runs} runs per configuration, batch {args.batch}, "
        f"{WARM_STEPS} first steps, {args.train_steps} steady steps, {os.cpu_count()} CPU cores",
        flush=True,
    )
    results = []
    configs = list(args.configs)
    for run in range(args.runs):
        shift = run % len(configs)
        for config in configs[shift:] + configs[:shift]:
            try:
                result = measure_in_fresh_process(
                    "benchmarks.training_setup",
                    [
                        "--one",
                        config,
                        "--batch",
                        str(args.batch),
                        "--train-steps",
                        str(args.train_steps),
                        "--seed",
                        str(args.seed),
                    ],
                )
            except MeasurementFailed as error:
                print(error, file=sys.stderr)
                return 1
            results.append(result)
            print(
                f"run {run + 1}  {config:<12} first 3 steps {result['first_s']:6.1f} s   "
                f"steady {result['steady_ips']:6.1f} img/s",
                flush=True,
            )
    print(summarise(results, configs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
