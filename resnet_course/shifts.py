"""Copies of the course's photos as other people's cameras take them (ResNet-50 notebook, "photos from elsewhere"):
what notebook 4 scores its network on besides the test split, and what ``tools.calibrate_dataset`` chose the
augmentation by; never used for training.

``other_sources`` is built unlike the training augmentation on purpose (drawn walls, desks and clutter rather than
the augmentation's colour gradients), so that a recipe cannot score well here merely by having trained on the
same generator.
"""

from __future__ import annotations

import io

import numpy as np


def _wall(rng, side):
    """A background ``(side, side, 3)`` float in [0, 1]: a plain wall, a wall over a desk, or clutter."""
    from PIL import Image, ImageDraw, ImageFilter

    def colour():
        grey = rng.uniform(0.15, 0.95)
        tint = rng.uniform(-0.25, 0.25, size=3) * rng.uniform(0, 1)
        return tuple(int(255 * v) for v in np.clip(grey + tint, 0, 1))

    kind = rng.choice(["plain", "desk", "clutter"], p=[0.4, 0.3, 0.3])
    img = Image.new("RGB", (side, side), colour())
    draw = ImageDraw.Draw(img)
    if kind == "desk":
        top = int(rng.uniform(0.45, 0.85) * side)
        draw.rectangle([0, top, side, side], fill=colour())
    elif kind == "clutter":
        for _ in range(int(rng.integers(3, 9))):
            x0, y0 = rng.integers(-side // 4, side, size=2)
            w, h = rng.integers(side // 8, side // 2, size=2)
            shape = draw.rectangle if rng.uniform() < 0.6 else draw.ellipse
            shape([int(x0), int(y0), int(x0 + w), int(y0 + h)], fill=colour())
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))  # out of focus behind the hand
    wall = np.asarray(img, dtype=np.float32) / 255.0
    rows, cols = np.mgrid[0:side, 0:side] / side
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + rng.uniform(0, 0.4) * (np.cos(angle) * (cols - 0.5) + np.sin(angle) * (rows - 0.5))
    return np.clip(wall * light[..., None], 0, 1)


SHIFTS = ("walls", "framing", "camera")  # what ``other_sources`` changes; each can be measured alone


def other_sources(X, seed=0, keep_wall=0.25, shifts=SHIFTS):
    """A copy of uint8 photos ``X`` as photos from elsewhere: each hand (``backgrounds.hand_mask``) is cut out and
    set, with probability ``1 - keep_wall``, against another background (a plain wall of any grey or tint, a wall
    over a desk, or out-of-focus clutter), at 55 % to 100 % of its size, usually with the arm at the bottom of the
    frame and shifted sideways (sometimes anywhere), rotated up to 20 degrees; then another camera: white balance
    (each channel x0.8 to x1.25), exposure (x0.55 to x1.35), gamma, contrast, blur, sensor noise and JPEG (quality 30
    to 90). ``shifts``: the subset of ``SHIFTS`` to apply (walls, framing, camera), to measure each alone."""
    from PIL import Image, ImageFilter

    from .backgrounds import hand_mask

    unknown = set(shifts) - set(SHIFTS)
    if unknown:
        raise ValueError(f"unknown shifts {sorted(unknown)}; choose from {SHIFTS}")
    rng = np.random.default_rng(seed)
    out = []
    for img in np.asarray(X):
        side = img.shape[0]
        photo = img.astype(np.float32) / 255.0
        mask = hand_mask(img)
        if "walls" not in shifts and "framing" not in shifts:
            behind = photo
        elif "walls" not in shifts or rng.uniform() < keep_wall:
            edge = np.median(np.concatenate([photo[0], photo[:, 0], photo[:, -1]]), axis=0)
            wall = np.broadcast_to(edge, photo.shape)
            behind = photo * (1 - mask[..., None]) + wall * mask[..., None]  # the original wall, hand removed
        else:
            behind = _wall(rng, side)
        scale = rng.uniform(0.55, 1.0)
        angle = rng.uniform(-20, 20)
        if "framing" not in shifts:
            scale, angle = 1.0, 0.0
        new = max(8, int(round(side * scale)))
        layer = np.concatenate([photo, mask[..., None]], axis=-1)
        channels = [
            np.asarray(Image.fromarray(layer[..., k]).rotate(angle, resample=Image.BILINEAR).resize((new, new)))
            for k in range(4)
        ]
        cut = np.stack(channels, axis=-1)
        if rng.uniform() < 0.7:  # the arm enters from the bottom of the frame
            top = side - new
        else:
            top = int(rng.integers(0, side - new + 1))
        left = int(np.clip((side - new) // 2 + rng.integers(-side // 6, side // 6 + 1), 0, side - new))
        if "framing" not in shifts:
            top = left = 0
        frame = behind.copy()
        alpha = np.clip(cut[..., 3:], 0, 1)
        region = frame[top : top + new, left : left + new]
        frame[top : top + new, left : left + new] = cut[..., :3] * alpha + region * (1 - alpha)
        if "camera" not in shifts:
            out.append((np.clip(frame, 0, 1) * 255).round().astype(np.uint8))
            continue
        gains = rng.uniform(0.8, 1.25, size=3)
        frame = frame * gains / gains.mean() * rng.uniform(0.55, 1.35)
        frame = np.clip(frame, 0, 1) ** rng.uniform(0.8, 1.25)
        frame = (frame - frame.mean()) * rng.uniform(0.7, 1.3) + frame.mean()
        frame = frame + rng.normal(0, rng.uniform(0, 0.03), size=frame.shape)
        pil = Image.fromarray((np.clip(frame, 0, 1) * 255).round().astype(np.uint8))
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.0)))
        buf = io.BytesIO()
        pil.save(buf, format="JPEG", quality=int(rng.integers(30, 91)))
        out.append(np.asarray(Image.open(buf).convert("RGB")))
    return np.stack(out)
