"""The CIFAR-10 stand-in: procedural 32x32 scenes, one kind of object per CIFAR-10 class."""

from __future__ import annotations

import numpy as np

STANDIN_PER_CLASS = (1000, 200)  # training and test images per class of the stand-in


def _standin_image(label: int, rng) -> np.ndarray:
    """One 32x32 scene of class ``label``: a background and an object drawn from ellipses and boxes."""
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32) + 0.5
    img = np.zeros((32, 32, 3), np.float32)

    def paint(mask, colour, alpha=1.0):
        m = np.clip(mask, 0, 1)[..., None] * alpha
        img[:] = img * (1 - m) + np.asarray(colour, np.float32) * m

    def ellipse(cx, cy, rx, ry, angle=0.0):
        c, s = np.cos(angle), np.sin(angle)
        u, v = (xx - cx) * c + (yy - cy) * s, -(xx - cx) * s + (yy - cy) * c
        d = np.sqrt((u / max(rx, 0.3)) ** 2 + (v / max(ry, 0.3)) ** 2)
        return np.clip((1.0 - d) * min(rx, ry) + 0.5, 0, 1)  # about one pixel of soft edge

    def box(x0, y0, x1, y1):
        return np.clip(np.minimum(xx - x0, x1 - xx) + 0.5, 0, 1) * np.clip(np.minimum(yy - y0, y1 - yy) + 0.5, 0, 1)

    def jitter(colour, amount=0.12):
        return np.clip(np.asarray(colour) + rng.normal(0, amount, 3), 0, 1)

    # Background: the class's usual setting 60 % of the time, any other setting otherwise.
    settings = {
        "sky": ([0.55, 0.7, 0.9], [0.85, 0.9, 0.97]),
        "road": ([0.55, 0.55, 0.55], [0.3, 0.3, 0.32]),
        "grass": ([0.6, 0.75, 0.9], [0.3, 0.5, 0.2]),
        "water": ([0.7, 0.8, 0.92], [0.15, 0.3, 0.55]),
        "room": ([0.6, 0.5, 0.4], [0.45, 0.35, 0.3]),
    }
    usual = ["sky", "road", "sky", "room", "grass", "room", "grass", "grass", "water", "road"][label]
    setting = usual if rng.random() < 0.6 else str(rng.choice(sorted(settings)))
    top, bottom = (jitter(c, 0.1) for c in settings[setting])
    horizon = rng.uniform(10, 24)
    t = np.clip((yy - horizon) / 3 + 0.5, 0, 1)[..., None]
    img[:] = top * (1 - t) + bottom * t
    for _ in range(int(rng.integers(0, 4))):  # clutter
        paint(
            ellipse(rng.uniform(0, 32), rng.uniform(0, 32), rng.uniform(1, 4), rng.uniform(1, 4)),
            jitter(rng.uniform(0.2, 0.8, 3), 0.05),
            0.6,
        )

    s = rng.uniform(0.75, 1.2)  # object scale and position
    cx, cy = 16 + rng.uniform(-5, 5), 17 + rng.uniform(-4, 4)
    dark = jitter([0.12, 0.12, 0.12], 0.05)
    if label == 0:  # airplane: fuselage, wings, tail
        body = jitter([0.8, 0.8, 0.82], 0.08)
        tilt = rng.uniform(-0.4, 0.4)
        paint(ellipse(cx, cy, 11 * s, 2.2 * s, tilt), body)
        paint(ellipse(cx + np.sin(tilt) * 1, cy, 2.5 * s, 9 * s, tilt + 0.3), body * 0.9)
        paint(
            ellipse(cx - 9 * s * np.cos(tilt), cy - 9 * s * np.sin(tilt) - 2.5 * s, 1.2 * s, 3 * s, tilt), body * 0.85
        )
    elif label in (1, 9):  # automobile: low body and cabin; truck: tall cargo box and a cab
        colour = jitter(rng.uniform(0.1, 0.95, 3), 0.05)
        if label == 1:
            paint(box(cx - 10 * s, cy - 2 * s, cx + 10 * s, cy + 4 * s), colour)
            paint(box(cx - 5 * s, cy - 6 * s, cx + 5 * s, cy - 1 * s), colour * 0.8)
            paint(box(cx - 4 * s, cy - 5 * s, cx + 4 * s, cy - 2 * s), jitter([0.6, 0.75, 0.85], 0.05))
            wheels = (cx - 6 * s, cx + 6 * s)
        else:
            paint(box(cx - 12 * s, cy - 9 * s, cx + 4 * s, cy + 4 * s), jitter([0.85, 0.85, 0.85], 0.1))
            paint(box(cx + 4 * s, cy - 4 * s, cx + 11 * s, cy + 4 * s), colour)
            paint(box(cx + 6 * s, cy - 3 * s, cx + 10 * s, cy), jitter([0.6, 0.75, 0.85], 0.05))
            wheels = (cx - 9 * s, cx - 4 * s, cx + 7 * s)
        for wx in wheels:
            paint(ellipse(wx, cy + 4.5 * s, 2.3 * s, 2.3 * s), dark)
    elif label == 2:  # bird: small body, head, beak, wing
        colour = jitter(rng.choice([[0.45, 0.3, 0.2], [0.2, 0.2, 0.25], [0.8, 0.3, 0.2]]), 0.08)
        paint(ellipse(cx, cy, 6 * s, 3.5 * s, rng.uniform(-0.3, 0.3)), colour)
        paint(ellipse(cx + 5 * s, cy - 3 * s, 2.5 * s, 2.5 * s), colour)
        paint(ellipse(cx + 8 * s, cy - 3 * s, 1.6 * s, 0.7 * s), jitter([0.95, 0.75, 0.2], 0.05))
        paint(ellipse(cx - 1 * s, cy - 2 * s, 4 * s, 1.5 * s, -0.5), colour * 0.7)
    elif label in (3, 5):  # cat: round head, pointed ears; dog: longer head, hanging ears, snout
        colour = jitter(rng.choice([[0.6, 0.6, 0.6], [0.85, 0.55, 0.25], [0.25, 0.2, 0.2], [0.9, 0.85, 0.8]]), 0.08)
        paint(ellipse(cx - 3 * s, cy + 5 * s, 8 * s, 5 * s), colour * 0.9)  # body
        if label == 3:
            paint(ellipse(cx + 2 * s, cy - 3 * s, 5.5 * s, 5 * s), colour)
            for ex in (-3.5, 3.5):
                paint(ellipse(cx + 2 * s + ex * s, cy - 8 * s, 1.5 * s, 3 * s, 0.3 * np.sign(ex)), colour)
            eye = jitter([0.6, 0.8, 0.3], 0.1)
        else:
            paint(ellipse(cx + 2 * s, cy - 3 * s, 5 * s, 4.5 * s), colour)
            paint(ellipse(cx + 6 * s, cy - 1 * s, 3.5 * s, 2.2 * s), colour * 1.05)
            for ex in (-4.5, 4.5):
                paint(ellipse(cx + 2 * s + ex * s, cy - 2 * s, 1.6 * s, 4 * s), colour * 0.6)
            paint(ellipse(cx + 9 * s, cy - 1.5 * s, 1 * s, 1 * s), dark)
            eye = dark
        for ex in (-1.8, 1.8):
            paint(ellipse(cx + 2 * s + ex * s, cy - 4 * s, 0.9 * s, 0.9 * s), eye)
    elif label in (4, 7):  # deer: slim body, thin legs, antlers; horse: heavier body, long neck and head
        colour = jitter(
            [0.6, 0.4, 0.22] if label == 4 else rng.choice([[0.45, 0.28, 0.15], [0.15, 0.1, 0.1], [0.85, 0.82, 0.78]]),
            0.07,
        )
        thick = 1.0 if label == 4 else 1.4
        paint(ellipse(cx, cy, 8 * s, 3.5 * s * thick), colour)
        for lx in (-6, -4, 4, 6):
            paint(box(cx + lx * s - 0.6 * thick, cy + 2 * s, cx + lx * s + 0.6 * thick, cy + 10 * s), colour * 0.85)
        paint(ellipse(cx + 8 * s, cy - 5 * s, 1.6 * s * thick, 5 * s, 0.5), colour)
        paint(ellipse(cx + 10.5 * s, cy - 9 * s, 3 * s, 1.6 * s, 0.4 if label == 4 else 0.7), colour)
        if label == 4:
            for ax in (-1.5, 1.5):
                paint(
                    ellipse(cx + 9.5 * s + ax * s, cy - 13 * s, 0.6 * s, 3 * s, 0.4 * ax),
                    jitter([0.35, 0.25, 0.15], 0.05),
                )
        else:
            paint(ellipse(cx - 9 * s, cy + 2 * s, 1.2 * s, 4.5 * s, 0.4), colour * 0.6)  # tail
    elif label == 6:  # frog: wide flat body, two eyes on top, spots
        colour = jitter([0.3, 0.6, 0.25], 0.1)
        paint(ellipse(cx, cy + 2 * s, 9 * s, 5 * s), colour)
        for ex in (-4, 4):
            paint(ellipse(cx + ex * s, cy - 3 * s, 2.2 * s, 2.2 * s), colour)
            paint(ellipse(cx + ex * s, cy - 3.3 * s, 1 * s, 1 * s), dark)
            paint(ellipse(cx + ex * 1.8 * s, cy + 6 * s, 3.5 * s, 1.5 * s), colour * 0.8)
        for _ in range(3):
            paint(ellipse(cx + rng.uniform(-6, 6) * s, cy + rng.uniform(0, 4) * s, 1, 1), colour * 0.6)
    else:  # ship: hull, deck house, mast
        hull = jitter(rng.choice([[0.15, 0.15, 0.2], [0.8, 0.2, 0.15], [0.9, 0.9, 0.9]]), 0.05)
        paint(ellipse(cx, cy, 13 * s, 5 * s) * (yy > cy), hull)  # lower half: the hull
        paint(box(cx - 5 * s, cy - 5 * s, cx + 4 * s, cy), jitter([0.9, 0.9, 0.88], 0.05))
        paint(box(cx - 0.6, cy - 11 * s, cx + 0.6, cy - 5 * s), dark)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    img = img * rng.uniform(0.75, 1.15) + rng.normal(0, 0.03, img.shape)  # lighting and sensor noise
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def make_cifar10_standin(train_per_class=STANDIN_PER_CLASS[0], test_per_class=STANDIN_PER_CLASS[1], seed=0):
    """The course's stand-in for CIFAR-10: procedural 32x32 scenes of 10 classes, made deterministically.

    NOT CIFAR-10: simple drawings (an object of ellipses and boxes on a sky, road, grass,
    water or room background, with varied colours, size, position, clutter, lighting and
    noise), made so that the case study runs offline. Numbers measured on it say how the
    methods compare on these images, not what they score on CIFAR-10.

    Returns:
        ``(x_train, y_train, x_test, y_test)``: uint8 ``(N, 32, 32, 3)`` and int64 ``(N,)``,
        classes interleaved (0, 1, ..., 9, 0, 1, ...) like a shuffled dataset.
    """

    def split(per_class, stream):
        rng = np.random.default_rng([seed, stream])
        labels = np.tile(np.arange(10), per_class)
        return np.stack([_standin_image(int(c), rng) for c in labels]), labels.astype(np.int64)

    return (*split(train_per_class, 0), *split(test_per_class, 1))
