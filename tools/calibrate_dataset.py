"""Measure how hard the shipped dataset is: a linear baseline and ResNet-50 from scratch.

The course promises that a linear classifier on raw pixels stays below 60 %
test accuracy while ResNet-50 trained from scratch with the ResNet-50
notebook's recipe (Adam with cosine decay, batch 32, 10 epochs, random
left-right flips, BatchNorm statistics refreshed) reaches at least 90 %. This script measures both on ``datasets/`` and prints
one line per model. The ResNet-50 here is ``keras.applications.ResNet50``
(weights=None), the architecture the course's own ``ResNet50`` reproduces.

Usage::

    python -m tools.calibrate_dataset              # both models (about 6 minutes on 2 cores)
    python -m tools.calibrate_dataset --linear     # linear baseline only (seconds)
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def linear_baseline(X_train, y_train, X_test, y_test, seed=0) -> float:
    """Multinomial logistic regression on standardised raw pixels; returns test accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000, random_state=seed))
    clf.fit(X_train.reshape(len(X_train), -1) / 255.0, y_train)
    return float(clf.score(X_test.reshape(len(X_test), -1) / 255.0, y_test))


def resnet50_from_scratch(X_train, y_train, X_test, y_test, epochs=10, seed=0) -> tuple[float, float]:
    """The ResNet-50 notebook's recipe; returns test accuracy before and after the BatchNorm refresh.

    Adam with a cosine-decayed learning rate (0.001 to 0), batch 32, every
    image flipped left to right at random, then the BatchNorm moving
    statistics re-estimated with the final weights.
    """
    import keras
    import tensorflow as tf

    import resnets_utils

    keras.utils.set_random_seed(seed)
    augment = keras.Sequential([keras.layers.RandomFlip("horizontal", seed=1)])
    train_data = (tf.data.Dataset.from_tensor_slices((X_train / 255.0, y_train)).shuffle(len(X_train), seed=3)
                  .batch(32).map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
                  .prefetch(tf.data.AUTOTUNE))
    model = keras.applications.ResNet50(weights=None, input_shape=X_train.shape[1:], classes=6)
    steps = epochs * int(np.ceil(len(X_train) / 32))
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train_data, epochs=epochs, verbose=2)
    before = float(model.evaluate(X_test / 255.0, y_test, verbose=0)[1])
    resnets_utils.refresh_batchnorm_statistics(model, X_train / 255.0, batch_size=32)
    after = float(model.evaluate(X_test / 255.0, y_test, verbose=0)[1])
    return before, after


def main(argv=None) -> int:
    import resnets_utils

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--linear", action="store_true", help="only the linear baseline")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    Xtr, ytr, Xte, yte, _ = resnets_utils.load_dataset()
    ytr, yte = ytr.ravel(), yte.ravel()
    t = time.time()
    print(f"linear baseline (logistic regression on pixels): test accuracy {linear_baseline(Xtr, ytr, Xte, yte, args.seed):.3f}"
          f" ({time.time() - t:.0f} s)", flush=True)
    if not args.linear:
        t = time.time()
        before, after = resnet50_from_scratch(Xtr, ytr, Xte, yte, args.epochs, args.seed)
        print(f"ResNet-50 from scratch ({args.epochs} epochs, Adam with cosine decay from 1e-3, batch 32, flips): "
              f"test accuracy {before:.3f} with the moving BatchNorm statistics, {after:.3f} after refreshing them"
              f" ({time.time() - t:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
