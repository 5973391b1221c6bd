"""Choose notebook 6's transfer head on the training signers of the digits 6 to 9, never on the test photos.

The 60 training photos of the target task come from 15 signers. Each recipe is scored by
cross-validation over the signers: ``FOLDS`` folds, each holding out every photo of a third of the
signers (``resnets_utils.load_signers``), trained on the rest, starting from the course's
pretrained checkpoint (``resnets_utils.course_resnet50``; it is trained first if missing).

* ``--heads``: the head of ``build_transfer_model`` on the frozen base's pooled features, without
  normalisation, with ``BatchNormalization`` and with ``LayerNormalization`` before the hidden Dense,
  and a logistic regression on standardised features as a reference (features computed once; about
  a minute). This chose the ``LayerNormalization``.
* ``--layers``: a logistic regression on the pooled output of blocks of every stage from ``conv3_x``
  on, as they are and with the left-right flipped photos added (training and prediction): how much
  of the target task the frozen checkpoint's features hold at each depth (seconds).
* ``--fine-tune``: phase 1 (30 epochs) then phase 2 (Conv2D layers of the last ``stages`` stages,
  Adam 1e-4, 20 epochs), as notebook 6 runs them, with the head chosen above (about 4 minutes per
  line on a 2-core CPU). ``--fine-epochs``, ``--fine-rate`` and ``--augment LEVEL`` (the course's
  ``augmentation_layers(LEVEL)`` before the base, in both phases) try other recipes.

Usage::

    python -m tools.calibrate_transfer --heads --layers
    python -m tools.calibrate_transfer --fine-tune --stages 1 2
    python -m tools.calibrate_transfer --fine-tune --stages 5 --augment photos --fine-epochs 60
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from resnet_course.data import AUGMENTATION_LEVELS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FOLDS = 3
HEAD = dict(units=128, dropout=0.5, l2=1e-4)  # notebook 6's head and its phase-1 rate
EPOCHS_HEAD, EPOCHS_FINE, BATCH_SIZE = 30, 20, 15  # notebook 6's recipe


def signer_folds(signers, folds=FOLDS, seed=0):
    """Boolean validation masks, one per fold: every photo of every ``folds``-th signer of a shuffled list."""
    ids = np.random.default_rng(seed).permutation(np.unique(signers))
    return [np.isin(signers, ids[i::folds]) for i in range(folds)]


def head(inputs, classes, norm, units, dropout, l2):
    from keras import layers, regularizers

    x = inputs
    if norm == "batchnorm":
        x = layers.BatchNormalization()(x)
    elif norm == "layernorm":
        x = layers.LayerNormalization()(x)
    x = layers.Dense(units, activation="relu", kernel_regularizer=regularizers.L2(l2) if l2 else None)(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(classes, activation="softmax")(x)


def linear_validation(F, y, folds, C, flipped=None) -> float:
    """Mean validation accuracy over ``folds`` of a logistic regression on standardised features ``F``; with
    ``flipped`` (the features of the left-right flipped photos) those are added in training and averaged in
    prediction."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scores = []
    for val in folds:
        fit_x, fit_y = (
            (F[~val], y[~val]) if flipped is None else (np.concatenate([F[~val], flipped[~val]]), np.tile(y[~val], 2))
        )
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000)).fit(fit_x, fit_y)
        p = clf.predict_proba(F[val]) + (0 if flipped is None else clf.predict_proba(flipped[val]))
        scores.append(np.mean(p.argmax(1) == y[val]))
    return float(np.mean(scores))


def compare_heads(pretrained, X, y, folds) -> None:
    import keras

    pooled = keras.Model(pretrained.model.input, keras.layers.GlobalAveragePooling2D()(pretrained.model.output))
    F = pooled.predict(pretrained.preprocess(X), batch_size=30, verbose=0)
    print(f"pooled features: mean {F.mean():.2f}, spread across photos {F.std(axis=0).mean():.2f}")
    classes = int(y.max()) + 1
    for norm in ("none", "batchnorm", "layernorm"):
        scores = []
        for val in folds:
            keras.utils.set_random_seed(0)
            inputs = keras.Input(F.shape[1:])
            model = keras.Model(inputs, head(inputs, classes, norm, **HEAD))
            model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
            model.fit(F[~val], y[~val], epochs=EPOCHS_HEAD, batch_size=BATCH_SIZE, verbose=0)
            scores.append(np.mean(model.predict(F[val], verbose=0).argmax(1) == y[val]))
        print(f"head with {norm:9s} before the hidden Dense: validation {np.mean(scores):.1%}", flush=True)
    for C in (0.01, 0.1, 1.0):
        print(
            f"logistic regression on standardised features, C={C}: validation {linear_validation(F, y, folds, C):.1%}",
            flush=True,
        )


LAYERS = (
    "conv3_block4_out",
    "conv4_block3_out",
    "conv4_block6_out",
    "conv5_block1_out",
    "conv5_block2_out",
    "conv5_block3_out",
)  # the end of conv3_x, the middle and end of conv4_x, each block of conv5_x


def compare_layers(pretrained, X, y, folds, C=0.1) -> None:
    import keras

    model = pretrained.model
    pooled = keras.Model(
        model.input, [keras.layers.GlobalAveragePooling2D()(model.get_layer(n).output) for n in LAYERS]
    )
    x = pretrained.preprocess(X)
    plain, flipped = pooled.predict(x, verbose=0), pooled.predict(x[:, :, ::-1], verbose=0)
    for name, F, G in zip(LAYERS, plain, flipped):
        print(
            f"{name:17s} {F.shape[1]:5d} features: logistic regression (C={C}) validation "
            f"{linear_validation(F, y, folds, C):.1%}, with flipped photos {linear_validation(F, y, folds, C, G):.1%}",
            flush=True,
        )


def fine_tune(pretrained, X, y, folds, stages, epochs_fine=EPOCHS_FINE, rate_fine=1e-4, augment="none") -> None:
    import keras
    from keras import layers

    import resnets_utils as ru

    start = [w.copy() for w in pretrained.model.get_weights()]
    classes = int(y.max()) + 1
    Y = np.eye(classes)[y]
    x = pretrained.preprocess(X)
    phase1, phase2, t0 = [], [], time.time()
    for val in folds:
        keras.utils.set_random_seed(0)
        pretrained.model.set_weights(start)
        base = keras.Model(pretrained.model.input, pretrained.model.output, name="base")
        base.trainable = False
        inputs = keras.Input(x.shape[1:])
        seen = keras.Sequential(ru.augmentation_layers(augment))(inputs) if augment != "none" else inputs
        pooled = layers.GlobalAveragePooling2D()(base(seen, training=False))
        model = keras.Model(inputs, head(pooled, classes, "layernorm", **HEAD))
        model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
        model.fit(x[~val], Y[~val], epochs=EPOCHS_HEAD, batch_size=BATCH_SIZE, verbose=0)
        phase1.append(np.mean(model.predict(x[val], verbose=0).argmax(1) == y[val]))
        base.trainable = True
        last = base.output.shape[1]
        for layer in base.layers:
            layer.trainable = isinstance(layer, layers.Conv2D) and layer.output.shape[1] <= last * 2 ** (stages - 1)
        model.compile(keras.optimizers.Adam(rate_fine), "categorical_crossentropy")
        model.fit(x[~val], Y[~val], epochs=epochs_fine, batch_size=BATCH_SIZE, verbose=0)
        phase2.append(np.mean(model.predict(x[val], verbose=0).argmax(1) == y[val]))
    pretrained.model.set_weights(start)
    print(
        f"fine-tuning {stages} stage(s), {epochs_fine} epochs at {rate_fine:g}, augmentation {augment}: "
        f"validation after phase 1 {np.mean(phase1):.1%}, after phase 2 "
        f"{np.mean(phase2):.1%} ({time.time() - t0:.0f} s)",
        flush=True,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heads", action="store_true", help="compare heads on the frozen base's features")
    parser.add_argument("--fine-tune", action="store_true", help="score phase 1 + phase 2 by cross-validation")
    parser.add_argument("--layers", action="store_true", help="a linear classifier on the features of each stage")
    parser.add_argument("--stages", type=int, nargs="+", default=[1], help="stages unfrozen in phase 2")
    parser.add_argument("--fine-epochs", type=int, default=EPOCHS_FINE, help="epochs of phase 2")
    parser.add_argument("--fine-rate", type=float, default=1e-4, help="Adam's learning rate in phase 2")
    parser.add_argument("--augment", choices=AUGMENTATION_LEVELS, default="none", help="augment in both phases")
    args = parser.parse_args(argv)
    import resnets_utils as ru

    ru.start_tensorflow_quietly()
    X, Y, _, _, _ = ru.load_dataset(name=ru.SIGNS_6TO9)  # the test photos are not used here
    signers, _ = ru.load_signers(name=ru.SIGNS_6TO9)
    y, folds = Y.ravel(), signer_folds(signers)
    print(f"{len(y)} training photos, {len(np.unique(signers))} signers, {FOLDS} folds of whole signers")
    pretrained = ru.course_resnet50(input_shape=X.shape[1:])
    if args.heads:
        compare_heads(pretrained, X, y, folds)
    if args.layers:
        compare_layers(pretrained, X, y, folds)
    if args.fine_tune:
        for stages in args.stages:
            fine_tune(pretrained, X, y, folds, stages, args.fine_epochs, args.fine_rate, args.augment)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
