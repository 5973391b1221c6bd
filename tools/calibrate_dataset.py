"""Measure the dataset and choose notebook 4's recipe on a validation split, never on the test split.

Three measurements, one line each:

* ``--linear``: a linear baseline (logistic regression on standardised pixels).
* ``--validation``: each augmentation level (``resnets_utils.augmentation_layers``) trained on the training
  photos of 80 % of the training signers and scored on the other 20 % (whole signers,
  ``resnets_utils.signer_split``): on the photos as they are, and on a *shifted* copy
  (``shifted``) that imitates other cameras and framing (zoom, position, rotation,
  lighting, colour cast, blur, JPEG compression), and on a copy as *other sources* might take them
  (``resnet_course.shifts.other_sources``: other walls, desks and clutter behind the hand, smaller and
  off-centre hands, other white balance and exposure, noise), since the network will meet photos
  unlike the training set's. This is how notebook 4's recipe is chosen.
* ``--test``: the chosen recipe on the full training set, scored on the test split
  (the number the course states; run once per seed, after the choice).

The ResNet-50 here is ``keras.applications.ResNet50(weights=None)``, the network the
course's own ``ResNet50`` reproduces, trained with notebook 4's recipe (Adam with a
cosine decay from 1e-3, batch 32, ``EPOCHS`` epochs, then refreshed BatchNorm statistics).
Its augmentation is ``resnets_utils.augmentation_layers``, which notebook 4's ``augment`` cell spells out
(a test compares the two).

Usage::

    python -m tools.calibrate_dataset --linear
    python -m tools.calibrate_dataset --validation --recipe flips geometry photos
    python -m tools.calibrate_dataset --test --seed 0     # the chosen level, CHOSEN
    python -m tools.calibrate_dataset --validation --optimizer adam sgd-0.1 sgd-0.01   # the paper's SGD beside Adam
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from resnet_course.data import CHOSEN_AUGMENTATION, augmentation_layers  # noqa: E402
from resnet_course.pretrained import OPTIMIZERS  # noqa: E402
from resnet_course.shifts import SHIFTS, other_sources  # noqa: E402
from resnets_utils import COURSE_EPOCHS as EPOCHS  # noqa: E402 - notebook 4's epochs, one definition

CHOSEN = CHOSEN_AUGMENTATION  # the augmentation level notebook 4 uses


def linear_baseline(X_train, y_train, evals, seed=0) -> list[float]:
    """Multinomial logistic regression on standardised raw pixels; its accuracy on each ``(X, y)`` of ``evals``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000, random_state=seed))
    clf.fit(X_train.reshape(len(X_train), -1) / 255.0, y_train)
    return [float(clf.score(X.reshape(len(X), -1) / 255.0, y)) for X, y in evals]


def shifted(X, seed=0):
    """A copy of uint8 photos ``X`` as another camera might take them: each photo gets a random zoom
    (0.7 to 1.15 of the frame), offset, rotation (up to 15 degrees), brightness (0.6 to 1.3), contrast,
    colour cast, Gaussian blur and JPEG compression (quality 25 to 60)."""
    import io

    from PIL import Image, ImageEnhance, ImageFilter

    rng = np.random.default_rng(seed)
    out = []
    for img in X:
        side = img.shape[0]
        pil = Image.fromarray(img)
        edge = tuple(int(v) for v in np.median(np.concatenate([img[0], img[:, 0], img[:, -1]]), axis=0))
        scale = rng.uniform(0.7, 1.15)
        pil = pil.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR, fillcolor=edge)
        new = max(8, int(round(side * scale)))
        pil = pil.resize((new, new), Image.LANCZOS)
        canvas = Image.new("RGB", (max(side, new), max(side, new)), edge)
        canvas.paste(pil, ((canvas.width - new) // 2, (canvas.height - new) // 2))
        dx, dy = rng.integers(-side // 10, side // 10 + 1, size=2)
        left, top = (canvas.width - side) // 2 + dx, (canvas.height - side) // 2 + dy
        left, top = int(np.clip(left, 0, canvas.width - side)), int(np.clip(top, 0, canvas.height - side))
        pil = canvas.crop((left, top, left + side, top + side))
        pil = ImageEnhance.Brightness(pil).enhance(rng.uniform(0.6, 1.3))
        pil = ImageEnhance.Contrast(pil).enhance(rng.uniform(0.6, 1.3))
        cast = np.asarray(pil, dtype=np.float32) * rng.uniform(0.85, 1.15, size=3)
        pil = Image.fromarray(np.clip(cast, 0, 255).astype(np.uint8))
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))
        buf = io.BytesIO()
        pil.save(buf, format="JPEG", quality=int(rng.integers(25, 61)))
        out.append(np.asarray(Image.open(buf).convert("RGB")))
    return np.stack(out)


def _photos(walls=None, farther=None):
    """The ``"photos"`` level, with a random wall behind the hand of a fraction ``walls`` of the photos (after the
    flip) and the zoom out to ``farther`` with shifts up to 15 % (smaller hands, further off centre)."""
    from keras import layers

    from resnet_course.backgrounds import random_background_layer

    flips, rotation, zoom, translation, *photos = augmentation_layers("photos")
    if farther is not None:
        zoom = layers.RandomZoom((-0.15, farther), fill_mode="nearest", seed=3)
        translation = layers.RandomTranslation(0.15, 0.15, fill_mode="nearest", seed=4)
    wall = [random_background_layer(rate=walls, seed=9)] if walls is not None else []
    return [flips, *wall, rotation, zoom, translation, *photos]


def _erasing():
    from keras import layers

    return [layers.RandomErasing(factor=0.5, scale=(0.02, 0.15), value_range=(0, 1), seed=12)]


# Candidate augmentations that are not levels of ``augmentation_layers``: each builds its list of layers.
CANDIDATES = {
    "photos+camera": lambda: augmentation_layers("camera"),  # the level "camera", by its study name
    "photos+erasing": lambda: _photos() + _erasing(),
    "framing-mild": lambda: _photos(farther=0.6),
    "backgrounds": lambda: _photos(walls=0.8),
    "backgrounds+framing": lambda: _photos(walls=0.8, farther=0.8),
    "backgrounds-mild": lambda: _photos(walls=0.4),
    "backgrounds-mild+camera": lambda: _photos(walls=0.4) + augmentation_layers("camera")[-2:],
}
VARIANTS = tuple(CANDIDATES)


def train_resnet50(X_train, y_train, recipe=CHOSEN, epochs=EPOCHS, seed=0, verbose=2, optimizer="adam"):
    """Notebook 4's recipe with ``keras.applications.ResNet50``; returns the model after the BatchNorm refresh."""
    import resnets_utils

    stack = CANDIDATES[recipe]() if recipe in CANDIDATES else recipe
    return resnets_utils.train_resnet50_from_scratch(X_train, y_train, stack, epochs, seed, verbose, optimizer)


def accuracy(model, X, y, flips=False) -> float:
    """Accuracy on uint8 photos ``X``; with ``flips``, each prediction averages the photo and its mirror image."""
    x = (X / 255.0).astype("float32")
    p = model.predict(x, verbose=0, batch_size=64)
    if flips:
        p = p + model.predict(x[:, :, ::-1], verbose=0, batch_size=64)
    return float(np.mean(np.argmax(p, axis=-1) == np.asarray(y).ravel()))


DRAWS = 3  # other_sources copies of the validation photos scored (639 photos: less noise than one copy)


def shift_scores(X, y, shifted_copy):
    """A function that scores a trained network on validation photos ``X``: as they are, on their ``shifted`` copy,
    on ``DRAWS`` copies from ``other_sources`` (with and without test-time flips) and on each of its shifts alone."""
    yy = np.tile(np.asarray(y).ravel(), DRAWS)

    def draws(shifts):
        return np.concatenate([other_sources(X, seed=2 + k, shifts=shifts) for k in range(DRAWS)])

    other = draws(SHIFTS)
    each = {shift: draws((shift,)) for shift in SHIFTS}

    def score(model) -> str:
        return (
            f"validation {accuracy(model, X, y):.3f}, shifted validation {accuracy(model, shifted_copy, y):.3f}, "
            f"other sources {accuracy(model, other, yy):.3f} (test-time flips {accuracy(model, other, yy, True):.3f}; "
            + ", ".join(f"{shift} alone {accuracy(model, Xs, yy):.3f}" for shift, Xs in each.items())
            + ")"
        )

    return score


def main(argv=None) -> int:
    import resnets_utils

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--linear", action="store_true", help="the linear baseline (validation and test)")
    parser.add_argument("--validation", action="store_true", help="score recipes on the validation signers")
    parser.add_argument(
        "--test",
        nargs="?",
        const=CHOSEN,
        choices=resnets_utils.AUGMENTATION_LEVELS + VARIANTS,
        help=f"train on the whole training split and score the test split (default level: {CHOSEN})",
    )
    parser.add_argument("--recipe", nargs="+", default=[CHOSEN], choices=resnets_utils.AUGMENTATION_LEVELS + VARIANTS)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument(
        "--optimizer",
        nargs="+",
        default=["adam"],
        choices=sorted(OPTIMIZERS),
        help="with --validation: notebook 4's Adam, or the paper's SGD at a starting learning rate",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-dir", help="save each trained network's weights here, to score it again later")
    parser.add_argument("--score", metavar="DIR", help="score the networks --save-dir saved (RECIPE-EPOCHS-SEED)")
    args = parser.parse_args(argv)
    Xtr, ytr, Xte, yte, _ = resnets_utils.load_dataset()
    ytr, yte = ytr.ravel(), yte.ravel()
    held = resnets_utils.signer_split(resnets_utils.load_signers()[0], fraction=0.2, seed=0)
    Xval, yval = Xtr[held], ytr[held]
    Xval_shifted = shifted(Xval, seed=1)
    if args.validation or args.score:  # the other-sources copies take a while: only when they are scored
        score = shift_scores(Xval, yval, Xval_shifted)
    if args.linear:
        t = time.time()
        other = np.concatenate([other_sources(Xval, seed=2 + k) for k in range(DRAWS)])
        evals = [(Xval, yval), (Xval_shifted, yval), (other, np.tile(yval, DRAWS))]
        val, shift, elsewhere = linear_baseline(Xtr[~held], ytr[~held], evals, args.seed)
        test = linear_baseline(Xtr, ytr, [(Xte, yte)], args.seed)[0]
        print(
            f"linear baseline: validation {val:.3f}, shifted validation {shift:.3f}, other sources {elsewhere:.3f}, "
            f"test {test:.3f} "
            f"({time.time() - t:.0f} s)",
            flush=True,
        )
    if args.validation:
        for recipe, optimizer in [(r, o) for r in args.recipe for o in args.optimizer]:
            t = time.time()
            model = train_resnet50(Xtr[~held], ytr[~held], recipe, args.epochs, args.seed, optimizer=optimizer)
            seconds = time.time() - t
            other = "" if optimizer == "adam" else optimizer  # notebook 4's optimizer goes unnamed
            if args.save_dir:
                os.makedirs(args.save_dir, exist_ok=True)
                name = "-".join(filter(None, (recipe, other, str(args.epochs), str(args.seed))))
                model.save_weights(os.path.join(args.save_dir, f"{name}.weights.h5"))
            settings = (f"{args.epochs} epochs", f"seed {args.seed}", other, f"{int((~held).sum())} training photos")
            print(
                f"recipe {recipe} ({', '.join(filter(None, settings))}): "
                f"{score(model)} ({len(yval)} photos, {seconds:.0f} s)",
                flush=True,
            )
    for path in sorted(Path(args.score).glob("*.weights.h5")) if args.score else []:
        import keras

        model = keras.applications.ResNet50(weights=None, input_shape=Xval.shape[1:], classes=int(ytr.max()) + 1)
        model.load_weights(path)
        print(f"{path.name.removesuffix('.weights.h5')}: {score(model)}", flush=True)
    if args.test:
        t = time.time()
        recipe = args.test
        model = train_resnet50(Xtr, ytr, recipe, args.epochs, args.seed)
        print(
            f"recipe {recipe} ({args.epochs} epochs, seed {args.seed}): test {accuracy(model, Xte, yte):.3f} "
            f"({len(yte)} photos, {time.time() - t:.0f} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
