"""Where the hand is (``backgrounds.hand_mask``), the random-wall augmentation layer and the copies of the photos
from "other sources" (``resnet_course.shifts``) that choose notebook 4's recipe."""

from __future__ import annotations

import numpy as np
import pytest

from resnet_course.backgrounds import hand_mask, random_background_layer
from resnet_course.shifts import SHIFTS, other_sources

WALL, SKIN = (200, 200, 205), (205, 150, 120)


def _hand_photo():
    """A pale wall with a skin-coloured hand (rows 20-63, columns 16-47), a painted nail (a 2x2 dark spot) and the
    wall seen through a large gap (the circle of a "0", rows 30-39, columns 26-37)."""
    img = np.empty((64, 64, 3), np.uint8)
    img[:] = WALL
    img[20:, 16:48] = SKIN
    img[24:26, 20:22] = (40, 30, 60)
    img[30:40, 26:38] = WALL
    return img


def test_hand_mask_finds_the_hand_keeps_the_gap_and_fills_the_nail():
    mask = hand_mask(_hand_photo())
    assert mask.shape == (64, 64) and mask.dtype == np.float32
    assert mask[50, 20] > 0.9 and mask[22, 44] > 0.9, "the hand"
    assert mask[5, 5] < 0.1 and mask[40, 60] < 0.1, "the wall"
    assert mask[24, 20] > 0.5, "a painted nail is part of the hand"
    assert mask[35, 31] < 0.1, "the wall seen through a large gap stays wall"
    assert np.all(hand_mask(np.full((64, 64, 3), 200, np.uint8)) == 0), "no hand, no mask"
    with pytest.raises(ValueError, match="one RGB photo"):
        hand_mask(np.zeros((2, 64, 64, 3)))


def test_hand_mask_covers_a_plausible_part_of_every_training_photo():
    import resnets_utils

    X = resnets_utils.load_dataset()[0][::10]
    cover = np.array([hand_mask(img).mean() for img in X])
    assert np.mean((cover > 0.08) & (cover < 0.7)) >= 0.95, np.sort(cover)[:10]


def test_random_background_repaints_the_wall_and_keeps_the_hand():
    import keras

    keras.utils.set_random_seed(0)
    x = (np.stack([_hand_photo()] * 4) / 255.0).astype("float32")
    layer = random_background_layer(rate=1.0, seed=3)
    assert np.array_equal(np.asarray(layer(x, training=False)), x), "outside training the images pass unchanged"
    out = np.asarray(layer(x, training=True))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert np.abs(out[:, 45:, 20:44] - x[:, 45:, 20:44]).max() < 0.02, "the hand keeps its pixels"
    assert np.abs(out[:, :10, :10] - x[:, :10, :10]).mean() > 0.05, "the wall is repainted"
    assert np.abs(out[0, :10, :10] - out[1, :10, :10]).mean() > 0.01, "each image gets its own wall"
    none = np.asarray(random_background_layer(rate=0.0, seed=3)(x, training=True))
    assert np.allclose(none, x), "rate 0 repaints nothing"
    clone = type(layer).from_config(layer.get_config())
    assert (clone.rate, clone.threshold, clone.seed) == (1.0, layer.threshold, 3)


def test_other_sources_is_reproducible_and_each_shift_changes_the_photos():
    import resnets_utils

    X = resnets_utils.load_dataset()[0][:8]
    a, b = other_sources(X, seed=4), other_sources(X, seed=4)
    assert a.shape == X.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, other_sources(X, seed=5))
    same = other_sources(X, seed=4, shifts=())
    assert np.abs(same.astype(int) - X).mean() < 1.0, "no shift: the photos as they are"
    for shift in SHIFTS:
        assert np.abs(other_sources(X, seed=4, shifts=(shift,)).astype(int) - X).mean() > 5, shift
    with pytest.raises(ValueError, match="unknown shifts"):
        other_sources(X, shifts=("weather",))
