"""The shipped photos of hands (Sign Language Digits: 0-5 and the 6-9 target task; classic SIGNS key layout), validation by signer, how every photo is made 64x64, augmentation, one-hot labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .paths import DATASET_DIR


class DatasetError(RuntimeError):
    """A dataset file is missing, unreadable or not in the expected layout."""


# --------------------------------------------------------------------------- data
def _read_split(path: Path, prefix: str):
    import h5py

    remedy = (
        "Restore it with `git checkout -- resnet_course/datasets/` or regenerate it with "
        "`python -m tools.make_dataset` from the repository root."
    )
    if not path.is_file():
        raise DatasetError(f"Dataset file not found: {path}. {remedy}")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in (f"{prefix}_x", f"{prefix}_y") if k not in f]
            if missing:
                raise DatasetError(
                    f"Dataset file {path} has no key(s) {missing}; it holds {sorted(f.keys())}. {remedy}"
                )
            x = np.asarray(f[f"{prefix}_x"][:])
            y = np.asarray(f[f"{prefix}_y"][:])
            classes = np.asarray(f["list_classes"][:]) if "list_classes" in f else None
    except DatasetError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/ValueError for damaged files
        raise DatasetError(f"Dataset file {path} could not be read ({type(exc).__name__}: {exc}). {remedy}") from None
    if x.ndim != 4 or x.shape[-1] != 3 or y.ndim != 1 or len(x) != len(y):
        raise DatasetError(
            f"Dataset file {path} has images of shape {x.shape} and labels of shape {y.shape}; "
            f"expected (m, height, width, 3) and (m,). {remedy}"
        )
    return x, y, classes


SIGNS_6TO9 = "signs6to9"  # ``load_dataset(name=SIGNS_6TO9)``: the transfer-learning target task (digits 6 to 9)
DATASET_NAMES = ("signs", SIGNS_6TO9)  # the datasets the course ships
IMAGE_SIZE = 64  # side of the course's images, in pixels
RESAMPLE = "LANCZOS"  # Pillow filter used to shrink photos to IMAGE_SIZE (antialiased)


def load_dataset(path=None, name="signs"):
    """Load the finger-counting photos (digits 0 to 5), or with ``name=SIGNS_6TO9`` the digits 6 to 9.

    Both are real photos of hands from the Sign Language Digits Dataset (Apache-2.0;
    ``resnet_course/datasets/NOTICE.md`` says where they come from and what was changed), split so
    that no signer has photos on both sides.

    Args:
        path: folder holding ``train_<name>.h5`` and ``test_<name>.h5``
            (default: the course's ``resnet_course/datasets/``).
        name: ``"signs"`` (digits 0 to 5, the classic SIGNS layout) or ``"signs6to9"``
            (digits 6 to 9, the transfer-learning target task: 15 training photos per
            class; labels 0 to 3 stand for the digits in ``classes``).

    Returns:
        ``(X_train_orig, Y_train_orig, X_test_orig, Y_test_orig, classes)``:
        images of shape ``(m, 64, 64, 3)`` (uint8), labels of shape ``(1, m)``
        (int64) and the class values (the digits).

    Raises:
        DatasetError: a file is missing, damaged or not in the classic layout;
            the message names the file and how to restore it.
    """
    folder = Path(path) if path is not None else DATASET_DIR
    if path is None and name not in DATASET_NAMES:
        raise ValueError(f"no dataset named {name!r}: the course ships {', '.join(map(repr, DATASET_NAMES))}")
    X_train, y_train, classes = _read_split(folder / f"train_{name}.h5", "train_set")
    X_test, y_test, test_classes = _read_split(folder / f"test_{name}.h5", "test_set")
    if classes is None:
        classes = test_classes if test_classes is not None else np.unique(np.concatenate([y_train, y_test]))
    return X_train, y_train.reshape(1, -1), X_test, y_test.reshape(1, -1), classes


def load_signers(path=None, name="signs"):
    """``(train_signers, test_signers)``: the signer id of every photo of ``load_dataset(path, name)``.

    Photos of one signer share an id; no id appears on both sides of the split. Use it
    to hold out a validation split by signer (``signer_split``).
    """
    import h5py

    folder = Path(path) if path is not None else DATASET_DIR
    ids = []
    for split in ("train", "test"):
        file = folder / f"{split}_{name}.h5"
        with h5py.File(file, "r") as f:
            if f"{split}_set_signer" not in f:
                raise DatasetError(
                    f"Dataset file {file} has no signer ids ({split}_set_signer); "
                    "rebuild it with `python -m tools.make_dataset`."
                )
            ids.append(np.asarray(f[f"{split}_set_signer"][:]))
    return ids[0], ids[1]


def signer_split(signers, fraction=0.2, seed=0):
    """A boolean mask that holds out about ``fraction`` of the signers (all their photos) for validation.

    Choosing a recipe on a validation split drawn this way, never on the test split,
    measures what the network does on hands it has not seen.
    """
    signers = np.asarray(signers)
    ids = np.unique(signers)
    held = np.random.default_rng(seed).choice(ids, size=max(1, round(fraction * len(ids))), replace=False)
    return np.isin(signers, held)


AUGMENTATION_LEVELS = ("none", "flips", "geometry", "photos", "camera")
CHOSEN_AUGMENTATION = "camera"  # notebook 4's level, and the course checkpoint's (tools/calibrate_dataset.py)


def augmentation_layers(level=CHOSEN_AUGMENTATION):
    """The course's data augmentation for photos of hands, as a list of Keras layers (ResNet-50 notebook).

    Each level adds to the one before: ``"flips"`` (left and right hands),
    ``"geometry"`` (rotations up to 14 degrees, zoom from 15 % closer to 30 % farther,
    shifts up to 10 %, borders filled with the nearest pixel: other framing),
    ``"photos"`` (brightness, contrast, saturation and hue: other light),
    ``"camera"`` (a photo out of focus, blurred with sigma up to 1 pixel, and 15 % of the photos in grey: other
    cameras). ``"camera"`` is what notebook 4 uses and the course's pretrained checkpoint was
    trained with; the levels were compared on a validation split of signers and on copies of it as other sources
    would photograph it (``tools/calibrate_dataset.py``, docs/results.md). Inputs are images scaled to [0, 1].
    """
    from keras import layers

    if level not in AUGMENTATION_LEVELS:
        raise ValueError(f"level must be one of {AUGMENTATION_LEVELS}, got {level!r}")
    chosen = AUGMENTATION_LEVELS[: AUGMENTATION_LEVELS.index(level) + 1]
    stack = []
    if "flips" in chosen:
        stack += [layers.RandomFlip("horizontal", seed=1)]
    if "geometry" in chosen:
        stack += [
            layers.RandomRotation(0.04, fill_mode="nearest", seed=2),
            layers.RandomZoom((-0.15, 0.3), fill_mode="nearest", seed=3),
            layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=4),
        ]
    if "photos" in chosen:
        stack += [
            layers.RandomBrightness(0.25, value_range=(0, 1), seed=5),
            layers.RandomContrast(0.3, seed=6),
            layers.RandomSaturation((0.3, 0.7), value_range=(0, 1), seed=7),
            layers.RandomHue(0.05, value_range=(0, 1), seed=8),
        ]
    if "camera" in chosen:
        stack += [
            layers.RandomGaussianBlur(factor=(0.0, 1.0), sigma=(0.1, 1.0), value_range=(0, 1), seed=10),
            layers.RandomGrayscale(0.15, seed=11),
        ]
    return stack


def prepare_photo(image, size=IMAGE_SIZE):
    """Prepare one photo exactly as the course's training photos were prepared.

    Steps: turn it upright by its EXIF orientation, composite transparency on
    white and convert grey or palette images to RGB, crop the largest centred
    square, and shrink (or enlarge) it to ``size`` x ``size`` with Pillow's Lanczos filter.

    Args:
        image: a path or binary file object Pillow reads (JPEG, PNG, ...), or a ``PIL.Image``.
        size: output side in pixels.

    Returns:
        ``(array, steps)``: a uint8 array ``(size, size, 3)`` and a list of
        sentences saying what was done.
    """
    from PIL import Image, ImageOps

    img = image if isinstance(image, Image.Image) else Image.open(image)
    steps = [f"read a {img.width}x{img.height} {img.format or 'image'} in mode {img.mode}"]
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16-bit or float grey: Pillow would clip to white
        mode, values = img.mode, np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(values.max()), 1.0)
        img = Image.fromarray(np.clip(values / top * 255.0, 0, 255).round().astype(np.uint8), mode="L")
        steps.append(f"scaled its {mode} values (16-bit or more) to 8 bits")
    orientation = img.getexif().get(0x0112, 1)
    if orientation not in (None, 1):
        img = ImageOps.exif_transpose(img)
        steps.append(f"turned it upright (EXIF orientation {orientation}): now {img.width}x{img.height}")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("RGB")
        steps.append("placed its transparent parts on white")
    elif img.mode != "RGB":
        steps.append(f"converted {img.mode} to RGB")
        img = img.convert("RGB")
    side = min(img.size)
    if img.width != img.height:
        left, top = (img.width - side) // 2, (img.height - side) // 2
        img = img.crop((left, top, left + side, top + side))
        steps.append(f"cropped the centred {side}x{side} square (the hand should fill it, as in the training photos)")
    if side != size:
        img = img.resize((size, size), getattr(Image.Resampling, RESAMPLE))
        steps.append(f"resized it to {size}x{size} with the {RESAMPLE.title()} filter")
        if side < size:
            steps.append(
                f"note: it was enlarged from {side}x{side}, so it holds less detail than the training photos "
                "and the prediction means less"
            )
    return np.asarray(img, dtype=np.uint8), steps


def convert_to_one_hot(Y, C):
    """One-hot encode labels.

    Args:
        Y: integer labels of shape ``(1, m)`` or ``(m,)``.
        C: number of classes.

    Returns:
        Array of shape ``(C, m)``; transpose it for Keras, which wants ``(m, C)``.
    """
    if isinstance(C, bool) or not isinstance(C, (int, np.integer)) or C < 1:
        raise ValueError(f"C is the number of classes, a whole number of at least 1; got {C!r}")
    Y = np.asarray(Y)
    if Y.dtype.kind not in "iu":
        if Y.dtype.kind != "f" or not np.all(np.isfinite(Y)) or not np.array_equal(Y, np.round(Y)):
            raise ValueError(
                f"labels must be whole numbers (integer class indices); got an array of {Y.dtype} "
                f"such as {Y.reshape(-1)[:3].tolist()}"
            )
    Y = Y.reshape(-1).astype(int)
    if Y.size and (Y.min() < 0 or Y.max() >= C):
        raise ValueError(f"labels must lie in [0, {C - 1}], got values from {Y.min()} to {Y.max()}")
    return np.eye(C)[Y].T


# --------------------------------------------------------------------------- photos unlike the training photos
PHOTO_STATISTICS = {  # name: (how a photo below every training photo is, how one above is), before "every training photo"
    "brightness": ("darker than", "brighter than"),
    "contrast": ("flatter (less contrast) than", "more contrasted than"),
    "saturation": ("greyer than", "more colourful than"),
    "background spread": ("plainer at the edges than", "busier at the edges (another background?) than"),
    "hand size": ("with the hand smaller (farther away?) than in", "with the hand larger (closer?) than in"),
    "hand left to right": ("with the hand further left than in", "with the hand further right than in"),
    "hand top to bottom": ("with the hand higher up than in", "with the hand lower down than in"),
}
EDGE = 4  # pixels of each side of a 64x64 photo that show the wall behind the hand
NO_HAND = 0.01  # a hand mask smaller than this share of the photo: no hand found by its colour


def photo_statistics(images) -> np.ndarray:
    """Per photo (uint8, ``(m, 64, 64, 3)`` or one ``(64, 64, 3)``): mean brightness, contrast (the spread of its
    values), mean saturation, the spread of the edge pixels (the background), the share of the photo the hand covers
    and where its centre lies across and down the photo (``backgrounds.hand_mask``; NaN without a hand), each in
    [0, 1]; shape ``(m, 7)``, in the order of ``PHOTO_STATISTICS``."""
    from .backgrounds import hand_mask

    a = np.asarray(images, dtype=np.float64).reshape((-1, IMAGE_SIZE, IMAGE_SIZE, 3)) / 255.0
    top, low = a.max(-1), a.min(-1)
    saturation = np.where(top > 0, (top - low) / np.maximum(top, 1e-6), 0.0)
    edge = np.concatenate(
        [a[:, :EDGE].reshape(len(a), -1, 3), a[:, -EDGE:].reshape(len(a), -1, 3),
         a[:, EDGE:-EDGE, :EDGE].reshape(len(a), -1, 3), a[:, EDGE:-EDGE, -EDGE:].reshape(len(a), -1, 3)],
        axis=1,
    )  # fmt: skip
    flat = a.reshape(len(a), -1)
    masks = np.stack([hand_mask(image) for image in a])
    area = masks.mean((1, 2))
    area = np.where(area > NO_HAND, area, np.nan)
    rows, cols = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] / (IMAGE_SIZE - 1)
    weight = np.where(np.isfinite(area), masks.sum((1, 2)), np.nan)
    across, down = (masks * cols).sum((1, 2)) / weight, (masks * rows).sum((1, 2)) / weight
    return np.stack(
        [flat.mean(1), flat.std(1), saturation.reshape(len(a), -1).mean(1), edge.std(1).mean(1), area, across, down],
        1,
    )


_RANGES: dict = {}


def training_photo_ranges(path=None) -> np.ndarray:
    """``(7, 2)``: the lowest and highest value of each ``photo_statistics`` over the training photos (cached;
    about a second the first time)."""
    key = str(path or DATASET_DIR)
    if key not in _RANGES:
        stats = photo_statistics(load_dataset(path)[0])
        _RANGES[key] = np.stack([np.nanmin(stats, 0), np.nanmax(stats, 0)], 1)
    return _RANGES[key]


def unlike_training_photos(photo, margin: float = 0.1) -> list[str]:
    """Sentences saying how a prepared 64x64 photo (uint8) lies outside every training photo (by more than
    ``margin`` of each statistic's range), or []: a network trained on the course's photos is often wrong there."""
    ranges = training_photo_ranges()
    values = photo_statistics(photo)[0]
    notes = []
    for (name, (low, high)), value, (lo, hi) in zip(PHOTO_STATISTICS.items(), values, ranges):
        slack = margin * (hi - lo)
        if np.isfinite(value) and (value < lo - slack or value > hi + slack):
            notes.append(f"{low if value < lo else high} every training photo ({name} {value:.2f}; "
                         f"the training photos: {lo:.2f} to {hi:.2f})")  # fmt: skip
    if not np.isfinite(values[-1]):
        notes.append("without a hand found by its colour (in the training photos skin is the only warm colour)")
    return notes
