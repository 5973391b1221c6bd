"""Generate the course's finger-counting dataset (a stand-in for SIGNS).

Each image is a 64x64 RGB picture of a hand showing 0 to 5 extended
fingers in a natural pose (for 2: index and middle finger, or thumb and
index); the label is the count. Hands differ in skin tone, size, rotation,
position, pose, finger spread and handedness; scenes
differ in background (solid, gradient, clutter; muted colours of any hue, or
skin-like ones such as wood), lighting, blur and sensor
noise. Each hand has a dark outline, which marks where one finger ends and
the next begins; without it a ResNet-50 trained from scratch stayed near
87 % (see the README's dataset section). Everything is drawn from a seeded NumPy generator, so the files are
reproducible bit for bit with the pinned NumPy and Pillow.

Usage (from the repository root)::

    python -m tools.make_dataset            # writes datasets/*.h5 and images/dataset_samples.png
    python -m tools.make_dataset --check    # regenerates in memory and compares with datasets/

The same drawing code makes a second, small dataset for the transfer-learning
notebook: four hand gestures defined by *which* fingers are extended (thumb,
little finger, index and little finger, thumb and little finger), a target task
different from counting, with few training images per class
(``train_gestures.h5``, ``test_gestures.h5``).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
SIZE = 64            # output side in pixels
SUPER = 4            # drawing is done at SUPER x resolution, then downsampled
N_CLASSES = 6
TRAIN_PER_CLASS = 180
TEST_PER_CLASS = 20
TRAIN_SEED = 20151210   # He et al. posted "Deep Residual Learning" on 2015-12-10
TEST_SEED = 20160310
# The gestures dataset (transfer-learning target task): few training images per class.
GESTURES_TRAIN_PER_CLASS = 15
GESTURES_TEST_PER_CLASS = 25
GESTURES_TRAIN_SEED = 20140404   # ImageNet features transfer: "CNN features off-the-shelf", 2014
GESTURES_TEST_SEED = 20141106

@dataclass(frozen=True)
class Style:
    """How much the scenes vary; ``STYLE`` is what the shipped files use."""

    backgrounds: tuple = ("solid", "gradient", "gradient", "clutter")
    clutter_shapes: tuple = (1, 3)          # [low, high) number of shapes in a cluttered scene
    background_saturation: float = 0.45     # 0: greys, 1: any colour
    skin_like: float = 0.25                 # chance that a background colour is skin-like (wood, beige walls)
    palm_width: tuple = (0.30, 0.40)        # fraction of the image side
    rotation: float = 12.0                  # degrees, either way
    jitter: tuple = (0.05, 0.05)            # hand position (x, y), fraction of the side, either way
    centre_y: float = 0.69                  # mean height of the palm centre, fraction of the side
    spread: tuple = (0.6, 1.0)              # finger spread, 0: together, 1: fanned out
    finger_width: float = 1.4               # multiplier of the fingers' widths
    outline: tuple = (0.15, 0.30)           # brightness of the hand's outline, fraction of the skin's
    blur: float = 0.4                       # largest Gaussian blur radius (pixels)
    gain: tuple = (0.85, 1.15)              # global brightness
    cast: float = 0.04                      # colour cast, either way
    light: float = 0.2                      # strength of a directional lighting ramp
    noise: tuple = (1.0, 3.0)               # range of the sensor noise's standard deviation


STYLE = Style()

# Skin tones from light to dark (RGB); a hand's tone is interpolated between two neighbours.
SKIN_TONES = np.array([
    [255, 224, 196], [241, 194, 158], [224, 172, 125], [198, 134, 92],
    [161, 102, 64], [120, 75, 45], [88, 56, 38],
], dtype=np.float64)

# Fingers in hand coordinates (palm centre at the origin, palm width 1, y up):
# base x, base y, extended length, width, resting angle in degrees (0 = straight up).
FINGERS = [
    (-0.36, 0.50, 0.95, 0.27, 8.0),   # little finger (mirrored for the other hand)
    (-0.12, 0.56, 1.10, 0.28, 2.0),   # ring
    (0.12, 0.56, 1.20, 0.28, -2.0),   # middle
    (0.36, 0.50, 1.08, 0.28, -7.0),   # index
]
THUMB = (0.50, 0.00, 0.85, 0.28, -45.0)
FOLDED_LENGTH = 0.16
LITTLE, RING, MIDDLE, INDEX, THUMB_ID = range(5)
# Natural poses for each count, as people sign numbers; one is picked at random.
POSES = {
    0: [()],
    1: [(INDEX,)],
    2: [(INDEX, MIDDLE), (THUMB_ID, INDEX)],
    3: [(INDEX, MIDDLE, RING), (THUMB_ID, INDEX, MIDDLE)],
    4: [(INDEX, MIDDLE, RING, LITTLE)],
    5: [(THUMB_ID, INDEX, MIDDLE, RING, LITTLE)],
}
# Gestures of the transfer-learning target task: the label says which fingers are extended.
GESTURES = {
    "thumb": (THUMB_ID,),
    "little finger": (LITTLE,),
    "horns": (INDEX, LITTLE),
    "call me": (THUMB_ID, LITTLE),
}
GESTURE_NAMES = tuple(GESTURES)


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    t = math.radians(degrees)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return points @ rot.T


def _luma(rgb) -> float:
    return float(np.dot(rgb, [0.299, 0.587, 0.114]))


def _contrasting_colour(rng: np.random.Generator, skin: np.ndarray, saturation: float,
                        min_gap: float = 70.0, skin_like: float = 0.0) -> np.ndarray:
    """A random colour whose brightness differs from the skin's by at least ``min_gap``.

    With probability ``skin_like`` it is a skin tone made lighter or darker (wood, beige
    walls, another person): then the hand differs from the background in brightness
    only, not in hue. Otherwise it is a muted colour of any hue.
    """
    while True:
        if skin_like > 0 and rng.random() < skin_like:
            colour = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.5, 1.15)
        else:
            colour = rng.integers(0, 256, 3).astype(np.float64)
            colour = _luma(colour) + saturation * (colour - _luma(colour))
        if abs(_luma(colour) - _luma(skin)) >= min_gap:
            return np.clip(colour, 0, 255)


def _background(rng: np.random.Generator, side: int, skin: np.ndarray, style: Style) -> Image.Image:
    kind = rng.choice(list(style.backgrounds))
    c1 = _contrasting_colour(rng, skin, style.background_saturation, skin_like=style.skin_like)
    c2 = _contrasting_colour(rng, skin, style.background_saturation, skin_like=style.skin_like)
    if kind == "solid":
        arr = np.broadcast_to(c1, (side, side, 3)).astype(np.float64)
    else:
        angle = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:side, 0:side] / side
        t = (np.cos(angle) * xx + np.sin(angle) * yy)
        t = (t - t.min()) / (t.max() - t.min() + 1e-9)
        arr = c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]
    img = Image.fromarray(arr.astype(np.uint8))
    if kind == "clutter":
        draw = ImageDraw.Draw(img)
        for _ in range(rng.integers(*style.clutter_shapes)):
            colour = tuple(int(v) for v in _contrasting_colour(rng, skin, saturation=0.8))
            x0, y0 = rng.uniform(-0.2, 1.0, 2) * side
            w, h = rng.uniform(0.05, 0.20, 2) * side
            shape = rng.integers(0, 3)
            if shape == 0:
                draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
            elif shape == 1:
                draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
            else:
                draw.line([x0, y0, x0 + w, y0 + h], fill=colour, width=int(rng.integers(2, 4) * SUPER))
    return img


def _capsule(draw: ImageDraw.ImageDraw, p0, p1, width: float, colour) -> None:
    draw.line([tuple(p0), tuple(p1)], fill=colour, width=max(1, int(round(width))))
    r = width / 2
    for (x, y) in (p0, p1):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)


def draw_hand(rng: np.random.Generator, count: int, style: Style = STYLE, pose=None) -> np.ndarray:
    """Draw one 64x64x3 uint8 image of a hand showing ``count`` extended fingers.

    ``pose`` (a tuple of finger ids) draws exactly those fingers extended instead
    of one of the natural poses for ``count`` (the gestures dataset).
    """
    side = SIZE * SUPER
    tone_pos = rng.uniform(0, len(SKIN_TONES) - 1)
    i = int(tone_pos)
    skin = SKIN_TONES[i] + (SKIN_TONES[min(i + 1, len(SKIN_TONES) - 1)] - SKIN_TONES[i]) * (tone_pos - i)
    skin = np.clip(skin + rng.normal(0, 6, 3), 0, 255)
    img = _background(rng, side, skin, style)
    draw = ImageDraw.Draw(img)
    edge = tuple(int(v) for v in skin * rng.uniform(*style.outline))
    fill = tuple(int(v) for v in skin)

    scale = rng.uniform(*style.palm_width) * side   # palm width in pixels
    angle = rng.uniform(-style.rotation, style.rotation)
    jitter = np.asarray(style.jitter)
    centre = np.array([side / 2, side * style.centre_y]) + rng.uniform(-jitter, jitter) * side
    mirror = rng.random() < 0.5                     # left or right hand
    spread = rng.uniform(*style.spread)

    def to_px(pts):
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2).copy()
        if mirror:
            pts[:, 0] = -pts[:, 0]
        pts = _rotate(pts, angle) * scale
        pts[:, 1] = -pts[:, 1]                      # image y grows downwards
        return pts + centre

    extended = np.zeros(5, dtype=bool)
    if pose is None:
        poses = POSES[count]
        pose = poses[rng.integers(len(poses))]
    extended[list(pose)] = True

    # Forearm: from below the palm to beyond the image border.
    arm = to_px([[0, -0.45], [0, -3.0]])
    arm_w = scale * rng.uniform(0.70, 0.85)
    _capsule(draw, arm[0], arm[1], arm_w + 2 * SUPER, edge)
    _capsule(draw, arm[0], arm[1], arm_w, fill)

    # Fingers (drawn before the palm so that their bases are hidden under it).
    specs = list(FINGERS) + [THUMB]
    for k, (bx, by, length, width, rest) in enumerate(specs):
        fan = (k - 1.5) * 9.0 * spread if k < 4 else -25.0 * spread
        theta = math.radians(rest + fan + rng.normal(0, 3))
        ln = (length * rng.uniform(0.9, 1.08)) if extended[k] else FOLDED_LENGTH
        if not extended[k] and k == 4:
            # A folded thumb lies across the palm.
            tip = np.array([bx - 0.45, by + 0.12])
        else:
            tip = np.array([bx - math.sin(theta) * ln, by + math.cos(theta) * ln])
        p = to_px([[bx, by], tip])
        w = width * scale * style.finger_width
        _capsule(draw, p[0], p[1], w + 2 * SUPER, edge)
        _capsule(draw, p[0], p[1], w, fill)
        if not extended[k] and k < 4:
            # Knuckle of a folded finger: a darker crease.
            q = to_px([[bx - 0.08, by + 0.06], [bx + 0.08, by + 0.06]])
            draw.line([tuple(q[0]), tuple(q[1])], fill=edge, width=SUPER)

    # Palm: a rounded polygon.
    palm = to_px([[-0.5, -0.5], [0.5, -0.5], [0.55, 0.15], [0.48, 0.58], [-0.48, 0.58], [-0.55, 0.15]])
    draw.polygon([tuple(p) for p in palm], fill=fill, outline=edge, width=SUPER)
    if not extended[4]:
        bx, by, _, width, _ = THUMB
        p = to_px([[bx, by], [bx - 0.45, by + 0.12]])
        _capsule(draw, p[0], p[1], width * scale + 2 * SUPER, edge)
        _capsule(draw, p[0], p[1], width * scale, fill)

    img = img.resize((SIZE, SIZE), Image.LANCZOS)
    blur = rng.uniform(0.0, style.blur)
    if blur > 0.15:
        img = img.filter(ImageFilter.GaussianBlur(radius=blur))
    arr = np.asarray(img, dtype=np.float64)

    # Lighting: global gain, a colour cast and a soft directional light.
    gain = rng.uniform(*style.gain)
    cast = rng.uniform(1 - style.cast, 1 + style.cast, 3)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    light_dir = rng.uniform(0, 2 * math.pi)
    ramp = 1 + rng.uniform(0, style.light) * (np.cos(light_dir) * (xx - 0.5) + np.sin(light_dir) * (yy - 0.5))
    arr = arr * gain * cast[None, None, :] * ramp[..., None]
    arr = arr + rng.normal(0, rng.uniform(*style.noise), arr.shape)   # sensor noise
    return np.clip(np.round(arr), 0, 255).astype(np.uint8)


def generate(per_class: int, seed: int, style: Style = STYLE) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, y)``: ``X`` is ``(6 * per_class, 64, 64, 3)`` uint8, ``y`` is int64 counts.

    Classes are interleaved (0, 1, ..., 5, 0, 1, ...) so that any prefix is balanced.
    """
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(N_CLASSES, dtype=np.int64), per_class)
    images = np.stack([draw_hand(rng, int(c), style) for c in labels])
    return images, labels


def generate_gestures(per_class: int, seed: int, style: Style = STYLE) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, y)`` of the gestures task: ``y`` indexes ``GESTURE_NAMES``; classes interleaved."""
    rng = np.random.default_rng(seed)
    poses = list(GESTURES.values())
    labels = np.tile(np.arange(len(poses), dtype=np.int64), per_class)
    images = np.stack([draw_hand(rng, len(poses[c]), style, pose=poses[c]) for c in labels])
    return images, labels


def build_gestures() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        "train": generate_gestures(GESTURES_TRAIN_PER_CLASS, GESTURES_TRAIN_SEED),
        "test": generate_gestures(GESTURES_TEST_PER_CLASS, GESTURES_TEST_SEED),
    }


def write_h5(path: Path, prefix: str, X: np.ndarray, y: np.ndarray, n_classes: int = N_CLASSES) -> None:
    """Write ``X``/``y`` with the classic SIGNS key layout (``{prefix}_x``, ``{prefix}_y``, ``list_classes``)."""
    with h5py.File(path, "w", track_order=False) as f:
        f.create_dataset(f"{prefix}_x", data=X, compression="gzip", compression_opts=6,
                         chunks=(60, SIZE, SIZE, 3), track_times=False)
        f.create_dataset(f"{prefix}_y", data=y, track_times=False)
        f.create_dataset("list_classes", data=np.arange(n_classes, dtype=np.int64), track_times=False)


def build() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        "train": generate(TRAIN_PER_CLASS, TRAIN_SEED),
        "test": generate(TEST_PER_CLASS, TEST_SEED),
    }


def write_sample_grid(X: np.ndarray, y: np.ndarray, path: Path, per_class: int = 8, n_classes: int = N_CLASSES) -> None:
    """Save a grid with ``per_class`` images of every class, one row per class."""
    rows = []
    for c in range(n_classes):
        picks = X[y == c][:per_class]
        rows.append(np.concatenate(list(picks), axis=1))
    grid = np.concatenate(rows, axis=0)
    Image.fromarray(grid).save(path, optimize=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare a fresh generation with datasets/")
    parser.add_argument("--out", type=Path, default=ROOT / "datasets", help="output folder")
    args = parser.parse_args(argv)
    data = build()
    if args.check:
        import resnets_utils
        Xtr, ytr, Xte, yte, _ = resnets_utils.load_dataset(args.out)
        same = (np.array_equal(Xtr, data["train"][0]) and np.array_equal(ytr.ravel(), data["train"][1])
                and np.array_equal(Xte, data["test"][0]) and np.array_equal(yte.ravel(), data["test"][1]))
        print("datasets/ matches the generator" if same else "datasets/ differs from the generator")
        return 0 if same else 1
    args.out.mkdir(parents=True, exist_ok=True)
    for split, (X, y) in data.items():
        write_h5(args.out / f"{split}_signs.h5", f"{split}_set", X, y)
        print(f"wrote {args.out / f'{split}_signs.h5'}: {X.shape[0]} images")
    write_sample_grid(*data["train"], ROOT / "images" / "dataset_samples.png")
    print(f"wrote {ROOT / 'images' / 'dataset_samples.png'}")
    for split, (X, y) in build_gestures().items():
        write_h5(args.out / f"{split}_gestures.h5", f"{split}_set", X, y, n_classes=len(GESTURES))
        print(f"wrote {args.out / f'{split}_gestures.h5'}: {X.shape[0]} images")
    X, y = build_gestures()["train"]
    write_sample_grid(X, y, ROOT / "images" / "gestures_samples.png", n_classes=len(GESTURES))
    print(f"wrote {ROOT / 'images' / 'gestures_samples.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
