"""Pretrained weights for the transfer-learning notebook: ImageNet's through the Keras cache, otherwise the course's own checkpoint (trained here once if missing)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import config
from .config import CACHE_ENV, WEIGHTS_ENV
from .data import CHOSEN_AUGMENTATION, augmentation_layers, load_dataset
from .fast import course_setting, fast_mode
from .keras_internals import keras_home
from .paths import DATASET_DIR
from .weights import refresh_batchnorm_statistics

IMAGENET_NOTOP = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" + IMAGENET_NOTOP
COURSE_EPOCHS = 10            # epochs of notebook 4's recipe, used for the course checkpoint too


class Pretrained:
    """A headless pretrained ResNet-50 and how to feed it.

    Attributes:
        model: ``keras.applications.ResNet50`` without its classifier (output: the
            last feature map), holding the pretrained weights.
        source: ``"imagenet"`` or ``"course"``.
        description: one sentence saying which weights these are.
        preprocess: function of uint8 images ``(m, h, w, 3)`` returning what ``model`` expects.
    """

    def __init__(self, model, source, description, preprocess):
        self.model, self.source, self.description, self.preprocess = model, source, description, preprocess

    def __repr__(self):
        return f"Pretrained({self.source!r}: {self.description})"


def course_cache_dir() -> Path:
    """Where the course caches its own checkpoints: ``$RESNET_COURSE_CACHE`` or ``~/.keras/resnet_course``."""
    return Path(config.value(CACHE_ENV) or Path.home() / ".keras" / "resnet_course").expanduser()


def _imagenet_preprocess(images):
    import keras

    return keras.applications.resnet50.preprocess_input(np.asarray(images, dtype="float32"))


def _unit_scale(images):
    return (np.asarray(images, dtype="float32") / 255.0).astype("float32")


def imagenet_resnet50(input_shape=(64, 64, 3), cache_dir=None, download=True):
    """ResNet-50 with ImageNet weights, through the standard Keras cache, or ``None`` if they cannot be had.

    The weights file is the one ``keras.applications.ResNet50(weights="imagenet",
    include_top=False)`` uses, fetched with ``keras.utils.get_file`` into
    ``<cache_dir>/models/`` (default: the Keras home, ``~/.keras``). A file already in
    the cache is used without any network access.

    Args:
        input_shape: image shape; Keras needs at least 32x32.
        cache_dir: the Keras cache folder (default: Keras's own).
        download: if False, only a file already in the cache is used.

    Returns:
        A ``Pretrained`` (inputs preprocessed like ImageNet's: BGR, mean subtracted), or
        ``None`` with the reason printed when the file is neither cached nor downloadable.
    """
    import keras


    folder = Path(cache_dir).expanduser() if cache_dir else keras_home()   # the folder KERAS_HOME points to, as get_file uses
    cached = folder / "models" / IMAGENET_NOTOP
    if not cached.is_file() and not download:
        print(f"ImageNet weights are not in the Keras cache ({cached}); not downloading.")
        return None
    try:
        path = keras.utils.get_file(IMAGENET_NOTOP, IMAGENET_ORIGIN, cache_subdir="models",
                                    cache_dir=str(folder))
    except Exception as exc:  # noqa: BLE001 - offline: URL errors, DNS errors, proxies
        print(f"ImageNet weights unavailable ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}).")
        return None
    model = keras.applications.ResNet50(weights=None, include_top=False, input_shape=tuple(input_shape))
    model.load_weights(path)
    return Pretrained(model, "imagenet", f"ImageNet weights of keras.applications.ResNet50 ({path})",
                      _imagenet_preprocess)


OPTIMIZERS = {  # name: (optimizer class, its settings, the learning rate the cosine decay starts from)
    "adam": ("Adam", {}, 1e-3),  # notebook 4's
    # He et al.'s (momentum 0.9, weight decay 1e-4; Keras's decoupled decay), with the course's cosine schedule
    "sgd-0.1": ("SGD", {"momentum": 0.9, "weight_decay": 1e-4}, 0.1),
    "sgd-0.01": ("SGD", {"momentum": 0.9, "weight_decay": 1e-4}, 0.01),
}


def train_resnet50_from_scratch(X, y, level=CHOSEN_AUGMENTATION, epochs=COURSE_EPOCHS, seed=0, verbose=0,
                                optimizer="adam"):
    """Notebook 4's recipe with ``keras.applications.ResNet50(weights=None)``, for the course's tools.

    ``X``: uint8 photos ``(m, h, w, 3)``; ``y``: integer labels ``(m,)``. Adam with a cosine decay from 1e-3,
    batch 32, ``augmentation_layers(level)`` in a ``tf.data`` pipeline, then refreshed BatchNorm statistics.
    Returns the trained model. (Notebook 4 spells the same recipe out for the learner.) ``optimizer`` names
    another entry of ``OPTIMIZERS`` (tools.calibrate_dataset's comparison with the paper's SGD).
    """
    import keras
    import tensorflow as tf

    batch_size = 32
    x, y = _unit_scale(X), np.asarray(y).reshape(-1)
    keras.utils.set_random_seed(seed)
    stack = augmentation_layers(level) if isinstance(level, str) else list(level)  # tools try their own layers
    augment = keras.Sequential(stack, name="augment")
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=3).batch(batch_size)
    if augment.layers:
        data = data.map(lambda a, b: (augment(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    model = keras.applications.ResNet50(weights=None, input_shape=x.shape[1:], classes=int(y.max()) + 1)
    steps = epochs * int(np.ceil(len(x) / batch_size))
    kind, settings, rate = OPTIMIZERS[optimizer]
    schedule = keras.optimizers.schedules.CosineDecay(rate, decay_steps=steps)
    model.compile(optimizer=getattr(keras.optimizers, kind)(schedule, **settings),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.prefetch(tf.data.AUTOTUNE), epochs=epochs, verbose=verbose, shuffle=False)  # data shuffles itself
    refresh_batchnorm_statistics(model, x, batch_size=batch_size, seed=seed)
    return model


def _train_course_checkpoint(path: Path, input_shape, seed: int = 0) -> None:
    """Train ResNet-50 on the photos of the digits 0 to 5 (the source task) with notebook 4's recipe
    (``train_resnet50_from_scratch``) and save its weights to ``path``."""
    import keras

    X_train, Y_train, _, _, classes = load_dataset()
    n_train = course_setting(len(X_train), 64)
    model = train_resnet50_from_scratch(X_train[:n_train], Y_train[0, :n_train], epochs=course_setting(COURSE_EPOCHS, 1),
                                        seed=seed)
    clean = keras.applications.ResNet50(weights=None, input_shape=tuple(input_shape), classes=len(classes))
    clean.set_weights(model.get_weights())        # an uncompiled copy: the file holds no optimizer state
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.weights.h5")
    clean.save_weights(tmp)
    os.replace(tmp, path)


CHECKPOINT_RECIPE = f"{CHOSEN_AUGMENTATION}-augmentation-v2"   # change it when the checkpoint's recipe changes


def _training_data_tag() -> str:
    """8 hex digits of a SHA-256 over the shipped training file, the recipe and the epochs: a checkpoint
    trained on an earlier version of the data or with another recipe gets another name, so it is never reused."""
    import hashlib

    digest = hashlib.sha256((DATASET_DIR / "train_signs.h5").read_bytes())
    digest.update(f"{CHECKPOINT_RECIPE}/{COURSE_EPOCHS}".encode())
    return digest.hexdigest()[:8]


def course_resnet50(input_shape=(64, 64, 3), cache_dir=None, train=True):
    """The course's own pretrained ResNet-50: trained on finger counting (the source task), headless.

    The checkpoint is cached outside the repository, in ``course_cache_dir()`` (or
    ``cache_dir``), one file per mode and version of the training data (fast mode's is trained on a tiny subset and
    is useless for anything but testing). If it is missing and ``train`` is true, it
    is trained here: about 5 minutes on a 2-core CPU in full mode (the ResNet-50
    notebook's recipe, then refreshed BatchNorm statistics), seconds in fast mode.

    Returns:
        A ``Pretrained`` whose model takes images scaled to [0, 1], or ``None`` if the
        checkpoint is missing and ``train`` is false.
    """
    import keras

    mode = "fast" if fast_mode() else "full"
    shape = tuple(int(v) for v in input_shape)
    name = f"signs_resnet50_{shape[0]}x{shape[1]}_{mode}_{_training_data_tag()}.weights.h5"
    path = (Path(cache_dir) if cache_dir else course_cache_dir()) / name
    if not path.is_file():
        if not train:
            return None
        print(f"Training the course checkpoint on the finger-counting images ({mode} mode); it is cached in {path}.")
        _train_course_checkpoint(path, shape)
    full = keras.applications.ResNet50(weights=None, input_shape=shape, classes=6)
    full.load_weights(path)
    model = keras.Model(full.input, full.get_layer("conv5_block3_out").output, name="resnet50_course")
    return Pretrained(model, "course", f"the course's ResNet-50 trained on finger counting, {mode} mode ({path})",
                      _unit_scale)


def pretrained_resnet50(input_shape=(64, 64, 3), cache_dir=None, course_cache=None):
    """ImageNet weights if they can be had, otherwise the course's own checkpoint (with a message).

    ``RESNET_COURSE_WEIGHTS=course`` skips ImageNet; ``=imagenet`` fails instead of falling back.
    Fast mode uses ImageNet weights only when they are already in the Keras cache (it never downloads).
    """
    choice = config.value(WEIGHTS_ENV).lower()
    if choice not in ("", "imagenet", "course"):
        raise ValueError(f"{WEIGHTS_ENV}={choice!r}: use imagenet or course")
    if choice != "course":
        found = imagenet_resnet50(input_shape, cache_dir=cache_dir, download=not fast_mode())
        if found is not None:
            return found
        if choice == "imagenet":
            raise RuntimeError(f"{WEIGHTS_ENV}=imagenet, but the ImageNet weights are neither cached nor downloadable")
        print("Falling back to the course's own pretrained ResNet-50 (finger counting, a different task).")
    return course_resnet50(input_shape, cache_dir=course_cache)
