"""A new wall behind the hand: where a hand is in a photo of the course, and an augmentation layer that repaints
everything else (ResNet-50 notebook, "photos from elsewhere").

Every training photo was taken against a pale grey wall, so a network can learn "pale wall" as part of every class
and meet its first coloured wall, bookshelf or desk on a student's own photo. The hand is the only warm-coloured
thing in these photos: skin has more red than blue (``red - blue`` above about 0.1 on a [0, 1] scale), the wall and
its shadows have almost none. That is enough to find the hand without a segmentation network.
"""

from __future__ import annotations

import numpy as np

WARMTH_THRESHOLD = 0.1  # red minus blue, on a [0, 1] scale: above it a pixel is skin (measured on the training photos)


def hand_mask(image, threshold=WARMTH_THRESHOLD):
    """Where the hand is in one photo of the course: a float mask ``(h, w)`` in [0, 1].

    The pixels warmer than ``threshold`` (red minus blue), their largest connected region (the hand and arm), small
    holes filled (nail polish, a ring, a dark crease), edges softened by one pixel. ``image``: uint8 ``(h, w, 3)``
    or floats in [0, 1].
    """
    from scipy import ndimage

    x = np.asarray(image, dtype=np.float32)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"expected one RGB photo of shape (h, w, 3), got shape {x.shape}")
    if x.max() > 1.0:
        x = x / 255.0
    warm = (x[..., 0] - x[..., 2]) > threshold
    labels, count = ndimage.label(warm)
    if count == 0:
        return np.zeros(x.shape[:2], np.float32)
    sizes = ndimage.sum(warm, labels, range(1, count + 1))
    hand = labels == (int(np.argmax(sizes)) + 1)
    holes = ndimage.binary_fill_holes(hand) & ~hand
    hole_labels, hole_count = ndimage.label(holes)
    if hole_count:
        hole_sizes = ndimage.sum(holes, hole_labels, range(1, hole_count + 1))
        small = np.isin(hole_labels, 1 + np.flatnonzero(hole_sizes <= 0.01 * hand.size))
        hand = hand | small  # the gap of a "0" stays wall; a ring or a painted nail becomes hand
    return np.clip(ndimage.gaussian_filter(hand.astype(np.float32), 0.6), 0.0, 1.0)


def _register(cls):
    import keras

    return keras.saving.register_keras_serializable(package="resnet_course")(cls)


def random_background_layer(rate=0.8, threshold=WARMTH_THRESHOLD, seed=None, name=None):
    """A Keras layer that, in training, paints a random wall behind the hand of each image (with probability
    ``rate``): a random colour fading into another across the frame, with a coarse texture, shaded as the
    original wall was. Images are scaled to [0, 1]; outside training the layer returns them unchanged."""
    return _random_background_class()(rate=rate, threshold=threshold, seed=seed, name=name)


_CLASS = None


def _random_background_class():
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import keras
    import tensorflow as tf

    @_register
    class RandomBackground(keras.layers.Layer):
        def __init__(self, rate=0.8, threshold=WARMTH_THRESHOLD, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.rate, self.threshold, self.seed = float(rate), float(threshold), seed

        def call(self, images, training=True):
            if not training:
                return images
            x = tf.convert_to_tensor(images, dtype=tf.float32)
            single = x.shape.rank == 3
            if single:
                x = x[None]
            shape = tf.shape(x)
            b, h, w = shape[0], shape[1], shape[2]
            s = self.seed
            seed = (lambda k: None) if s is None else (lambda k: s * 10 + k)
            warm = x[..., :1] - x[..., 2:3]
            mask = tf.nn.avg_pool2d(tf.sigmoid((warm - self.threshold) * 40.0), 3, 1, "SAME")
            luminance = tf.reduce_mean(x, axis=-1, keepdims=True)
            wall = tf.reduce_sum(luminance * (1 - mask), axis=[1, 2, 3], keepdims=True) / (
                tf.reduce_sum(1 - mask, axis=[1, 2, 3], keepdims=True) + 1e-3
            )
            shade = tf.clip_by_value(luminance / (wall + 1e-3), 0.3, 1.3)
            first = tf.random.uniform([b, 1, 1, 3], 0.05, 0.95, seed=seed(1))
            second = tf.random.uniform([b, 1, 1, 3], 0.05, 0.95, seed=seed(2))
            muted = tf.random.uniform([b, 1, 1, 1], seed=seed(6))  # 0: grey walls, 1: fully coloured ones
            first = tf.reduce_mean(first, -1, keepdims=True) * (1 - muted) + first * muted
            second = tf.reduce_mean(second, -1, keepdims=True) * (1 - muted) + second * muted
            angle = tf.random.uniform([b, 1, 1, 1], 0.0, 2 * np.pi, seed=seed(3))
            rows = tf.cast(tf.range(h), tf.float32)[None, :, None, None] / tf.cast(h, tf.float32)
            cols = tf.cast(tf.range(w), tf.float32)[None, None, :, None] / tf.cast(w, tf.float32)
            t = tf.clip_by_value(0.5 + (tf.cos(angle) * (cols - 0.5) + tf.sin(angle) * (rows - 0.5)), 0.0, 1.0)
            coarse = tf.image.resize(tf.random.normal([b, 4, 4, 3], 0.0, 0.08, seed=seed(4)), [h, w])
            background = tf.clip_by_value((first * (1 - t) + second * t + coarse) * shade, 0.0, 1.0)
            painted = x * mask + background * (1 - mask)
            apply = tf.cast(tf.random.uniform([b, 1, 1, 1], seed=seed(5)) < self.rate, tf.float32)
            out = apply * painted + (1 - apply) * x
            return out[0] if single else out

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "rate": self.rate, "threshold": self.threshold, "seed": self.seed}

    _CLASS = RandomBackground
    return _CLASS
