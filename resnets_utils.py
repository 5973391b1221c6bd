"""Data, plots, fast mode and weight helpers for the ResNet course.

Everything a notebook needs besides the exercises themselves:

* ``load_dataset`` / ``convert_to_one_hot``: the shipped photos of hands (Sign Language
  Digits: 0-5 and the 6-9 target task; classic SIGNS key layout, so a copy of the original
  files loads unchanged), ``load_signers`` / ``signer_split`` for validation by signer,
  ``prepare_photo`` (how every photo is made 64x64) and ``augmentation_layers``.
* ``fast_mode`` / ``course_setting``: the one switch that shrinks epochs and
  data for CI and autograding (``RESNET_COURSE_FAST``; ``NBGRADER_EXECUTION``
  turns it on too).
* ``plot_history``, ``plot_confusion_matrix``, ``predict_image``: results.
* ``keras_blocks``: the two bottleneck blocks built by Keras's own
  ``keras.applications`` code, for the ResNet-50 notebook.
* ``copy_weights``: copies weights between two ResNet-style models by the place
  of each layer in the graph, independent of layer names and creation order.
* ``refresh_batchnorm_statistics``: re-estimates BatchNorm's moving averages
  with the final weights after a short training run.
* ``pretrained_resnet50``: a headless ``keras.applications.ResNet50`` holding
  pretrained weights for the transfer-learning notebook: ImageNet's through the
  standard Keras cache when they can be had, otherwise the course's own
  checkpoint (finger counting), trained here once if it is missing
  (``imagenet_resnet50``, ``course_resnet50``).

Nothing here seeds random generators on import, and no exercise solution lives
here: the solutions live once, in the nbgrader source notebooks.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = [
    "DATASET_DIR", "DatasetError", "fast_mode", "published_scale", "course_setting", "load_dataset",
    "convert_to_one_hot", "report_metric", "plot_history", "plot_confusion_matrix",
    "predict_image", "keras_blocks", "weighted_layers_in_graph_order", "count_flops", "copy_weights",
    "refresh_batchnorm_statistics", "producer", "walk_nodes", "SIGNS_6TO9", "IMAGE_SIZE", "load_signers",
    "signer_split", "prepare_photo", "AUGMENTATION_LEVELS", "augmentation_layers", "train_resnet50_from_scratch",
    "Pretrained",
    "imagenet_resnet50", "course_resnet50", "pretrained_resnet50", "course_cache_dir",
    "CIFAR10_ENV", "CIFAR10_CLASSES", "Cifar10", "load_cifar10", "read_cifar10_folder", "write_cifar10_folder",
    "make_cifar10_standin", "standin_folder",
]

DATASET_DIR = Path(__file__).resolve().parent / "datasets"
FAST_ENV = "RESNET_COURSE_FAST"
PUBLISHED_ENV = "RESNET_COURSE_PUBLISHED"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class DatasetError(RuntimeError):
    """A dataset file is missing, unreadable or not in the expected layout."""


# --------------------------------------------------------------------------- fast mode
def _env_flag(name: str, on: str, off: str):
    """The switch ``name`` as True, False or None (unset); any other value is an error naming ``on`` and ``off``."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if value:
        raise ValueError(f"{name}={value!r}: use 1 ({on}) or 0 ({off})")
    return None


def fast_mode() -> bool:
    """Whether the notebooks should run in fast mode (tiny epochs and subsets).

    ``RESNET_COURSE_FAST=1`` turns fast mode on and ``RESNET_COURSE_FAST=0`` turns
    it off. When the variable is unset, fast mode follows ``NBGRADER_EXECUTION``,
    which nbgrader sets while it autogrades or validates a notebook.
    """
    flag = _env_flag(FAST_ENV, "fast mode", "full mode")
    return bool(os.environ.get("NBGRADER_EXECUTION")) if flag is None else flag


def published_scale() -> bool:
    """Whether full mode should run the published recipes at their full size (opt-in; slow on a CPU).

    ``RESNET_COURSE_PUBLISHED=1`` asks for it; fast mode always wins over it.
    Only settings given a ``published`` value in ``course_setting`` change.
    """
    return bool(_env_flag(PUBLISHED_ENV, "published sizes", "the course's full mode")) and not fast_mode()


def course_setting(full, fast, published=None):
    """Return ``fast`` in fast mode and ``full`` otherwise, e.g. ``EPOCHS = course_setting(10, 1)``.

    With ``published`` given, full mode returns it instead when ``RESNET_COURSE_PUBLISHED=1``
    (``published_scale()``): the size of a published recipe that the course scales down.
    """
    if fast_mode():
        return fast
    if published is not None and published_scale():
        return published
    return full


# --------------------------------------------------------------------------- data
def _read_split(path: Path, prefix: str):
    import h5py

    remedy = ("Restore it with `git checkout -- datasets/` or regenerate it with "
              "`python -m tools.make_dataset` from the repository root.")
    if not path.is_file():
        raise DatasetError(f"Dataset file not found: {path}. {remedy}")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in (f"{prefix}_x", f"{prefix}_y") if k not in f]
            if missing:
                raise DatasetError(f"Dataset file {path} has no key(s) {missing}; it holds {sorted(f.keys())}. {remedy}")
            x = np.asarray(f[f"{prefix}_x"][:])
            y = np.asarray(f[f"{prefix}_y"][:])
            classes = np.asarray(f["list_classes"][:]) if "list_classes" in f else None
    except DatasetError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/ValueError for damaged files
        raise DatasetError(f"Dataset file {path} could not be read ({type(exc).__name__}: {exc}). {remedy}") from None
    if x.ndim != 4 or x.shape[-1] != 3 or y.ndim != 1 or len(x) != len(y):
        raise DatasetError(f"Dataset file {path} has images of shape {x.shape} and labels of shape {y.shape}; "
                           f"expected (m, height, width, 3) and (m,). {remedy}")
    return x, y, classes


SIGNS_6TO9 = "signs6to9"      # ``load_dataset(name=SIGNS_6TO9)``: the transfer-learning target task (digits 6 to 9)
IMAGE_SIZE = 64               # side of the course's images, in pixels
RESAMPLE = "LANCZOS"          # Pillow filter used to shrink photos to IMAGE_SIZE (antialiased)


def load_dataset(path=None, name="signs"):
    """Load the finger-counting photos (digits 0 to 5), or with ``name=SIGNS_6TO9`` the digits 6 to 9.

    Both are real photos of hands from the Sign Language Digits Dataset (Apache-2.0;
    ``datasets/NOTICE.md`` says where they come from and what was changed), split so
    that no signer has photos on both sides.

    Args:
        path: folder holding ``train_<name>.h5`` and ``test_<name>.h5``
            (default: the course's ``datasets/``).
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
                raise DatasetError(f"Dataset file {file} has no signer ids ({split}_set_signer); "
                                   "rebuild it with `python -m tools.make_dataset`.")
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


AUGMENTATION_LEVELS = ("none", "flips", "geometry", "photos")


def augmentation_layers(level="photos"):
    """The course's data augmentation for photos of hands, as a list of Keras layers (ResNet-50 notebook).

    Each level adds to the one before: ``"flips"`` (left and right hands),
    ``"geometry"`` (rotations up to 14 degrees, zoom from 15 % closer to 30 % farther,
    shifts up to 10 %, borders filled with the nearest pixel: other framing),
    ``"photos"`` (brightness, contrast, saturation and hue: other cameras and light).
    ``"photos"`` is what notebook 4 uses and the course's pretrained checkpoint was
    trained with; the levels were compared on a validation split of signers
    (``tools/calibrate_dataset.py``). Inputs are images scaled to [0, 1].
    """
    from keras import layers

    if level not in AUGMENTATION_LEVELS:
        raise ValueError(f"level must be one of {AUGMENTATION_LEVELS}, got {level!r}")
    chosen = AUGMENTATION_LEVELS[:AUGMENTATION_LEVELS.index(level) + 1]
    stack = []
    if "flips" in chosen:
        stack += [layers.RandomFlip("horizontal", seed=1)]
    if "geometry" in chosen:
        stack += [layers.RandomRotation(0.04, fill_mode="nearest", seed=2),
                  layers.RandomZoom((-0.15, 0.3), fill_mode="nearest", seed=3),
                  layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=4)]
    if "photos" in chosen:
        stack += [layers.RandomBrightness(0.25, value_range=(0, 1), seed=5),
                  layers.RandomContrast(0.3, seed=6),
                  layers.RandomSaturation((0.3, 0.7), value_range=(0, 1), seed=7),
                  layers.RandomHue(0.05, value_range=(0, 1), seed=8)]
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
    return np.asarray(img, dtype=np.uint8), steps


def convert_to_one_hot(Y, C):
    """One-hot encode labels.

    Args:
        Y: integer labels of shape ``(1, m)`` or ``(m,)``.
        C: number of classes.

    Returns:
        Array of shape ``(C, m)``; transpose it for Keras, which wants ``(m, C)``.
    """
    Y = np.asarray(Y).reshape(-1).astype(int)
    if Y.size and (Y.min() < 0 or Y.max() >= C):
        raise ValueError(f"labels must lie in [0, {C - 1}], got values from {Y.min()} to {Y.max()}")
    return np.eye(C)[Y].T


def report_metric(name: str, value: float) -> None:
    """Hand the notebook's key metric to the course runner (``tools.run_course``); prints nothing.

    The runner sets ``RESNET_COURSE_METRICS`` to a file; each call appends ``name = value`` to it.
    Elsewhere (a learner's session, grading) the call does nothing.
    """
    value = float(value)
    target = os.environ.get(METRICS_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(f"{name} = {int(value) if value.is_integer() else round(value, 4)}\n")


# --------------------------------------------------------------------------- plots
def plot_history(history, metrics=("loss", "accuracy", "precision", "recall")):
    """Plot training (and validation, when present) curves from ``model.fit``.

    Args:
        history: the ``keras.callbacks.History`` returned by ``fit`` (or its ``.history`` dict).
        metrics: the metric names to plot, one panel each; missing ones are skipped.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    hist = getattr(history, "history", history)
    names = [m for m in metrics if m in hist]
    if not names:
        raise ValueError(f"none of {list(metrics)} is in the history; it has {sorted(hist)}")
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = np.arange(1, len(hist[name]) + 1)
        ax.plot(epochs, hist[name], marker="o", label="train")
        if f"val_{name}" in hist:
            ax.plot(epochs, hist[f"val_{name}"], marker="o", label="validation")
        ax.set_title(name)
        epoch_axis(ax, len(epochs))
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true, y_pred, class_names=None, normalize=None):
    """Plot a confusion matrix with scikit-learn's display; returns the figure."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        np.asarray(y_true).ravel(), np.asarray(y_pred).ravel(),
        display_labels=class_names, normalize=normalize, ax=ax, colorbar=False)
    ax.set_title("confusion matrix (rows: true class)")
    fig.tight_layout()
    return fig


def predict_image(model, image, class_names=None, show=True, verbose=True):
    """Predict the class of one photo ("test on your own hand").

    A file (any size; JPEG, PNG or anything Pillow reads; EXIF orientation, RGBA
    and grey are handled) is prepared exactly as the training photos were
    (``prepare_photo``: upright, RGB, centred square, Lanczos resize to the model's
    input size), and each step is printed. An array already at the model's input
    size is used as it is (uint8 in [0, 255] or floats in [0, 1]).

    Args:
        model: a trained Keras model taking ``(batch, h, w, 3)`` images scaled to [0, 1].
        image: a path, a ``PIL.Image`` or an ``(h, w, 3)`` array.
        class_names: optional names for the output classes.
        show: display the prepared image with its prediction.
        verbose: print what was done to the photo.

    Returns:
        ``(predicted_index, probabilities)``.
    """
    height, width = tuple(model.input_shape[1:3])
    if height != width:
        raise ValueError(f"predict_image expects a model with square inputs, got {height}x{width}")
    arr = None if isinstance(image, (str, os.PathLike)) or hasattr(image, "getexif") else np.asarray(image)
    if arr is None:
        arr, steps = prepare_photo(image, size=height)
        if verbose:
            print("Prepared the photo as the training photos were: " + "; ".join(steps) + ".")
        x = arr[None].astype("float32") / 255.0
    else:
        if arr.shape != (height, width, 3):
            raise ValueError(f"expected an array of shape ({height}, {width}, 3), got {arr.shape}; "
                             "pass a file path or a PIL image to have it prepared")
        x = arr[None].astype("float32") / (255.0 if arr.dtype == np.uint8 or arr.max() > 1.0 else 1.0)
    probs = np.asarray(model.predict(x, verbose=0))[0]
    index = int(np.argmax(probs))
    label = class_names[index] if class_names is not None else index
    if show:
        import matplotlib.pyplot as plt

        plt.figure(figsize=(2.5, 2.5))
        plt.imshow(np.clip(x[0], 0, 1))
        plt.title(f"prediction: {label} ({probs[index]:.0%})")
        plt.axis("off")
        plt.show()
    return index, probs


# --------------------------------------------------------------------------- blocks and weights
def keras_blocks():
    """Return ``(identity_block, convolutional_block)`` built on Keras's own ResNet code.

    The ResNet-50 notebook uses these so that a slip in the two block exercises
    does not cost a learner twice; the learner's own blocks are drop-in
    replacements. They wrap ``residual_block_v1`` of ``keras.applications``
    (stride on the first 1x1 conv, BatchNormalization epsilon 1.001e-5), which
    supports the bottleneck shape ``filters == [F, F, 4F]`` that ResNet-50 uses.
    ``initializer`` is accepted for signature compatibility; Keras's block uses
    its default Glorot-uniform initializer.
    """
    import keras
    from keras.src.applications.resnet import residual_block_v1

    def _check(filters):
        F1, F2, F3 = filters
        if F2 != F1 or F3 != 4 * F1:
            raise ValueError(f"Keras's bottleneck block needs filters [F, F, 4F], got {list(filters)}")
        return F1

    def identity_block(X, f, filters, initializer=None):
        return residual_block_v1(X, _check(filters), kernel_size=f, stride=1, conv_shortcut=False,
                                 name=f"id_block{keras.backend.get_uid('course_identity_block')}")

    def convolutional_block(X, f, filters, s=2, initializer=None):
        return residual_block_v1(X, _check(filters), kernel_size=f, stride=s, conv_shortcut=True,
                                 name=f"conv_block{keras.backend.get_uid('course_conv_block')}")

    return identity_block, convolutional_block


def producer(tensor):
    """The ``(operation, node)`` that produced a symbolic Keras tensor, or ``None`` for a model input."""
    history = getattr(tensor, "_keras_history", None)
    if history is None or history.operation is None:
        return None
    op = history.operation
    if type(op).__name__ == "InputLayer":
        return None
    return op, op._inbound_nodes[history.node_index]


def walk_nodes(outputs, branch_key=None):
    """All ``(operation, node)`` pairs reachable from ``outputs``, inputs before users (topological order).

    Args:
        outputs: symbolic tensors, e.g. ``model.outputs``.
        branch_key: optional function of a tensor; where a node has several inputs,
            they are walked in descending order of this key (stable: ties keep the
            node's input order). By default, in the node's input order.
    """
    order, seen = [], set()

    def visit(tensor) -> None:
        prod = producer(tensor)
        if prod is None or id(prod[1]) in seen:
            return
        seen.add(id(prod[1]))
        inputs = list(prod[1].input_tensors)
        for t in (sorted(inputs, key=branch_key, reverse=True) if branch_key else inputs):
            visit(t)
        order.append(prod)

    for out in outputs:
        visit(out)
    return order


def weighted_layers_in_graph_order(model):
    """List the layers of a functional model that hold weights, in a canonical graph order.

    The order is a depth-first walk from the output towards the input. Where a
    merge (e.g. the residual ``Add``) has several inputs, the branch whose
    longest path back to the model input is longer (the main path) is walked
    first; ties keep the merge's input order. The result depends only on the
    graph's shape, not on layer names nor on which branch was created first.
    """
    depth_cache: dict[int, int] = {}

    def depth(tensor) -> int:
        prod = producer(tensor)
        if prod is None:
            return 0
        key = id(prod[1])
        if key not in depth_cache:
            depth_cache[key] = 1 + max((depth(t) for t in prod[1].input_tensors), default=0)
        return depth_cache[key]

    order = []
    for op, _ in walk_nodes(model.outputs, branch_key=depth):
        if getattr(op, "weights", None) and op not in order:   # a shared layer counts once
            order.append(op)
    return order


def count_flops(model):
    """Multiply-adds of one forward pass of one example through ``model``'s Conv2D and Dense layers.

    A Conv2D layer computes, for each of its output values (height x width x filters), a dot
    product of length kernel height x kernel width x input channels (divided by ``groups``);
    a Dense layer one of length ``input units`` per output unit (and per position when its
    input has more than one axis). Biases, BatchNorm, activations, pooling and additions are
    left out: they cost a few operations per value, next to hundreds per convolution output.
    This is the convention of He et al. (2015), whose "FLOPs" are multiply-adds. Nested
    models are counted layer by layer; a layer must have been called once (its ``output``).
    """
    import keras

    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers"):                       # a nested model
            total += count_flops(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            in_channels = layer.input.shape[-1]
            out = layer.output.shape                           # (batch, height, width, filters)
            total += out[1] * out[2] * out[3] * kh * kw * in_channels // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            positions = int(np.prod(layer.output.shape[1:-1], dtype=np.int64))
            total += positions * layer.input.shape[-1] * layer.units
    return int(total)


def copy_weights(source, target):
    """Copy all weights of ``source`` into ``target``, matching layers by their place in the graph.

    Both models must have the same architecture (for instance the learner's
    ``ResNet50`` and ``keras.applications.ResNet50`` with the same input shape
    and classes); names and the order in which layers were created do not matter.

    Returns:
        The number of layers copied.

    Raises:
        ValueError: the two graphs differ; the message names the first layer
            (by its position) whose type or weight shapes differ.
    """
    src = weighted_layers_in_graph_order(source)
    dst = weighted_layers_in_graph_order(target)
    for i, (a, b) in enumerate(zip(src, dst)):
        shapes_a = [tuple(w.shape) for w in a.weights]
        shapes_b = [tuple(w.shape) for w in b.weights]
        if type(a) is not type(b) or shapes_a != shapes_b:
            raise ValueError(
                f"weighted layer #{i + 1} differs: source {type(a).__name__} '{a.name}' with weights {shapes_a}, "
                f"target {type(b).__name__} '{b.name}' with weights {shapes_b}")
    if len(src) != len(dst):
        raise ValueError(f"source has {len(src)} layers with weights, target has {len(dst)}")
    for a, b in zip(src, dst):
        b.set_weights(a.get_weights())
    return len(src)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def refresh_batchnorm_statistics(model, x, batch_size=32, seed=0):
    """Re-estimate the moving mean and variance of every BatchNormalization layer.

    BatchNorm uses moving averages of each channel's batch mean and variance at
    inference (momentum 0.99: roughly the last 100 batches). After a short run,
    those averages still remember the weights of several epochs ago, and
    accuracy in inference mode can fall far below training accuracy. This runs
    ``x`` through the model in training mode, without changing any weight, and
    sets each layer's moving statistics to the plain average of the batch
    statistics under the final weights (the "precise BN" of Wu & Johnson, 2021).

    Args:
        model: a Keras model; nested models are included. Layers with
            ``trainable=False`` are skipped (they always run in inference mode).
        x: training images, shape ``(m, height, width, channels)``.
        batch_size: batch size used for the statistics (use the training batch size).
        seed: order in which the images are visited.

    Returns:
        The number of BatchNormalization layers refreshed.
    """
    import keras

    layers = [l for l in _all_layers(model) if isinstance(l, keras.layers.BatchNormalization) and l.trainable]
    saved = [l.momentum for l in layers]
    order = np.random.default_rng(seed).permutation(len(x))
    try:
        for i, start in enumerate(range(0, len(x) - batch_size + 1, batch_size)):
            for layer in layers:
                layer.momentum = i / (i + 1)       # running mean of the batch statistics
            model(np.asarray(x[order[start:start + batch_size]], dtype="float32"), training=True)
    finally:
        for layer, momentum in zip(layers, saved):
            layer.momentum = momentum
    return len(layers)


# --------------------------------------------------------------------------- pretrained weights
IMAGENET_NOTOP = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" + IMAGENET_NOTOP
CACHE_ENV = "RESNET_COURSE_CACHE"
COURSE_EPOCHS = 10            # epochs of notebook 4's recipe, used for the course checkpoint too
WEIGHTS_ENV = "RESNET_COURSE_WEIGHTS"


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
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".keras" / "resnet_course").expanduser()


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

    from keras.src.backend import config as keras_config   # the folder KERAS_HOME points to, as get_file uses

    folder = Path(cache_dir).expanduser() if cache_dir else Path(keras_config.keras_home())
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


def train_resnet50_from_scratch(X, y, level="photos", epochs=COURSE_EPOCHS, seed=0, verbose=0):
    """Notebook 4's recipe with ``keras.applications.ResNet50(weights=None)``, for the course's tools.

    ``X``: uint8 photos ``(m, h, w, 3)``; ``y``: integer labels ``(m,)``. Adam with a cosine decay from 1e-3,
    batch 32, ``augmentation_layers(level)`` in a ``tf.data`` pipeline, then refreshed BatchNorm statistics.
    Returns the trained model. (Notebook 4 spells the same recipe out for the learner.)
    """
    import keras
    import tensorflow as tf

    batch_size = 32
    x, y = _unit_scale(X), np.asarray(y).reshape(-1)
    keras.utils.set_random_seed(seed)
    augment = keras.Sequential(augmentation_layers(level), name="augment")
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=3).batch(batch_size)
    if augment.layers:
        data = data.map(lambda a, b: (augment(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    model = keras.applications.ResNet50(weights=None, input_shape=x.shape[1:], classes=int(y.max()) + 1)
    steps = epochs * int(np.ceil(len(x) / batch_size))
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.prefetch(tf.data.AUTOTUNE), epochs=epochs, verbose=verbose)
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


CHECKPOINT_RECIPE = "photos-augmentation-v1"   # change it when the checkpoint's recipe changes


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
    choice = os.environ.get(WEIGHTS_ENV, "").strip().lower()
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


# --------------------------------------------------------------------------- CIFAR-10 (case study)
CIFAR10_ENV = "RESNET_COURSE_CIFAR10"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_FILES = CIFAR10_TRAIN_FILES + ("test_batch", "batches.meta")
STANDIN_VERSION = 1          # bump when the stand-in's drawing changes: the cached copy is then rebuilt
STANDIN_PER_CLASS = (1000, 200)   # training and test images per class of the stand-in


class Cifar10(tuple):
    """What ``load_cifar10`` returns: ``(x_train, y_train, x_test, y_test, class_names)`` plus where it came from.

    Unpack it like the other loaders, or use the attributes ``x_train``, ``y_train``,
    ``x_test``, ``y_test``, ``class_names``, ``source`` (``"folder"``, ``"keras"`` or
    ``"standin"``) and ``description`` (one sentence to print).
    """

    def __new__(cls, x_train, y_train, x_test, y_test, class_names, source, description):
        self = super().__new__(cls, (x_train, y_train, x_test, y_test, class_names))
        self.source, self.description = source, description
        return self

    x_train = property(lambda self: self[0])
    y_train = property(lambda self: self[1])
    x_test = property(lambda self: self[2])
    y_test = property(lambda self: self[3])
    class_names = property(lambda self: self[4])

    @property
    def is_cifar10(self) -> bool:
        return self.source != "standin"


_CIFAR_REMEDY = (f"Point {CIFAR10_ENV} at the folder `cifar-10-batches-py` unpacked from the official "
                 "`cifar-10-python.tar.gz` (all of data_batch_1..5, test_batch and batches.meta), "
                 f"or unset {CIFAR10_ENV} to use the Keras cache or the course's stand-in.")


_CIFAR_PICKLE_GLOBALS = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                                   ("numpy._core.multiarray", "_reconstruct")})


def _read_cifar_pickle(path: Path, remedy: str = _CIFAR_REMEDY) -> dict:
    import pickle

    if not path.is_file():
        raise DatasetError(f"CIFAR-10 file not found: {path}. {remedy}")
    class NumpyOnly(pickle.Unpickler):
        """Rebuilds numpy arrays and nothing else: a pickle naming any other global is refused."""

        def find_class(self, module, name):
            if (module, name) in _CIFAR_PICKLE_GLOBALS:
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"refusing the global {module}.{name}: the official files hold only "
                                         "dicts, lists, bytes and numpy arrays")

    try:
        with open(path, "rb") as f:
            data = NumpyOnly(f, encoding="bytes").load()
    except Exception as exc:  # noqa: BLE001 - truncated or foreign files raise many kinds of errors
        raise DatasetError(f"CIFAR-10 file {path} could not be read as a Python pickle "
                           f"({type(exc).__name__}: {str(exc)[:200]}). {remedy}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"CIFAR-10 file {path} holds a {type(data).__name__}, not the dict of the "
                           f"official format. {remedy}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in data.items()}


def _read_cifar_batch(path: Path, remedy: str = _CIFAR_REMEDY):
    """Images ``(N, 32, 32, 3)`` uint8 and labels ``(N,)`` int64 of one batch file in the official format."""
    data = _read_cifar_pickle(path, remedy)
    missing = [k for k in ("data", "labels") if k not in data]
    if missing:
        raise DatasetError(f"CIFAR-10 file {path} has no key(s) {[k.encode() for k in missing]}; "
                           f"it holds {sorted(data)}. {remedy}")
    x, y = np.asarray(data["data"]), np.asarray(data["labels"])
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or y.shape != (len(x),):
        raise DatasetError(f"CIFAR-10 file {path}: b'data' is {x.dtype} of shape {x.shape} and b'labels' has "
                           f"shape {y.shape}; expected uint8 (N, 3072) and (N,). {remedy}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DatasetError(f"CIFAR-10 file {path}: labels from {y.min()} to {y.max()}, expected 0 to 9. {remedy}")
    # Each row holds the red, then the green, then the blue 32x32 plane, each row-major.
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y.astype(np.int64)


def read_cifar10_folder(folder, remedy: str = _CIFAR_REMEDY):
    """Read a ``cifar-10-batches-py`` folder in the official Python (pickle) format.

    Args:
        folder: the folder holding ``data_batch_1`` .. ``data_batch_5``, ``test_batch``
            and ``batches.meta``.

    Returns:
        ``(x_train, y_train, x_test, y_test, class_names)``: uint8 images ``(N, 32, 32, 3)``,
        int64 labels ``(N,)`` and the 10 names of ``batches.meta``.

    Raises:
        DatasetError: a file is missing, damaged or not in the official format; the message
            names the file and the remedy.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"CIFAR-10 folder not found: {folder}. {remedy}")
    parts = [_read_cifar_batch(folder / name, remedy) for name in CIFAR10_TRAIN_FILES]
    x_test, y_test = _read_cifar_batch(folder / "test_batch", remedy)
    meta = _read_cifar_pickle(folder / "batches.meta", remedy)
    names = meta.get("label_names")
    if names is None or len(names) != 10:
        raise DatasetError(f"CIFAR-10 file {folder / 'batches.meta'} has no list of 10 b'label_names'. {remedy}")
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), x_test, y_test, names)


def write_cifar10_folder(folder, x_train, y_train, x_test, y_test, class_names=CIFAR10_CLASSES):
    """Write images in the official ``cifar-10-batches-py`` format (the training set split into 5 batches).

    ``x_*`` are uint8 ``(N, 32, 32, 3)``, ``y_*`` integer labels ``(N,)``. Used for the
    course's stand-in and by the tests; the files read back with ``read_cifar10_folder``
    and with ``keras.datasets``' own reader.
    """
    import pickle

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name, obj):
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            pickle.dump(obj, f, protocol=3)     # bytes stored as bytes, as the official files read
        os.replace(tmp, folder / name)

    def batch(label, x, y):
        rows = np.ascontiguousarray(np.asarray(x, np.uint8).transpose(0, 3, 1, 2).reshape(len(x), 3072))
        return {b"batch_label": label.encode(), b"labels": [int(v) for v in y], b"data": rows,
                b"filenames": [f"course_{label.split()[-1]}_{i:05d}.png".encode() for i in range(len(x))]}

    for i, (x, y) in enumerate(zip(np.array_split(np.asarray(x_train), 5), np.array_split(np.asarray(y_train), 5)), 1):
        dump(f"data_batch_{i}", batch(f"training batch {i} of 5", x, y))
    dump("test_batch", batch("testing batch 1 of 1", x_test, y_test))
    dump("batches.meta", {b"label_names": [n.encode() for n in class_names],
                          b"num_cases_per_batch": int(np.ceil(len(x_train) / 5)), b"num_vis": 3072})
    return folder


# ---- the stand-in: procedural 32x32 scenes, one kind of object per CIFAR-10 class
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
        return np.clip((1.0 - d) * min(rx, ry) + 0.5, 0, 1)     # about one pixel of soft edge

    def box(x0, y0, x1, y1):
        return (np.clip(np.minimum(xx - x0, x1 - xx) + 0.5, 0, 1) * np.clip(np.minimum(yy - y0, y1 - yy) + 0.5, 0, 1))

    def jitter(colour, amount=0.12):
        return np.clip(np.asarray(colour) + rng.normal(0, amount, 3), 0, 1)

    # Background: the class's usual setting 60 % of the time, any other setting otherwise.
    settings = {"sky": ([0.55, 0.7, 0.9], [0.85, 0.9, 0.97]), "road": ([0.55, 0.55, 0.55], [0.3, 0.3, 0.32]),
                "grass": ([0.6, 0.75, 0.9], [0.3, 0.5, 0.2]), "water": ([0.7, 0.8, 0.92], [0.15, 0.3, 0.55]),
                "room": ([0.6, 0.5, 0.4], [0.45, 0.35, 0.3])}
    usual = ["sky", "road", "sky", "room", "grass", "room", "grass", "grass", "water", "road"][label]
    setting = usual if rng.random() < 0.6 else str(rng.choice(sorted(settings)))
    top, bottom = (jitter(c, 0.1) for c in settings[setting])
    horizon = rng.uniform(10, 24)
    t = np.clip((yy - horizon) / 3 + 0.5, 0, 1)[..., None]
    img[:] = top * (1 - t) + bottom * t
    for _ in range(int(rng.integers(0, 4))):                      # clutter
        paint(ellipse(rng.uniform(0, 32), rng.uniform(0, 32), rng.uniform(1, 4), rng.uniform(1, 4)),
              jitter(rng.uniform(0.2, 0.8, 3), 0.05), 0.6)

    s = rng.uniform(0.75, 1.2)                                     # object scale and position
    cx, cy = 16 + rng.uniform(-5, 5), 17 + rng.uniform(-4, 4)
    dark = jitter([0.12, 0.12, 0.12], 0.05)
    if label == 0:       # airplane: fuselage, wings, tail
        body = jitter([0.8, 0.8, 0.82], 0.08)
        tilt = rng.uniform(-0.4, 0.4)
        paint(ellipse(cx, cy, 11 * s, 2.2 * s, tilt), body)
        paint(ellipse(cx + np.sin(tilt) * 1, cy, 2.5 * s, 9 * s, tilt + 0.3), body * 0.9)
        paint(ellipse(cx - 9 * s * np.cos(tilt), cy - 9 * s * np.sin(tilt) - 2.5 * s, 1.2 * s, 3 * s, tilt), body * 0.85)
    elif label in (1, 9):    # automobile: low body and cabin; truck: tall cargo box and a cab
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
    elif label == 2:     # bird: small body, head, beak, wing
        colour = jitter(rng.choice([[0.45, 0.3, 0.2], [0.2, 0.2, 0.25], [0.8, 0.3, 0.2]]), 0.08)
        paint(ellipse(cx, cy, 6 * s, 3.5 * s, rng.uniform(-0.3, 0.3)), colour)
        paint(ellipse(cx + 5 * s, cy - 3 * s, 2.5 * s, 2.5 * s), colour)
        paint(ellipse(cx + 8 * s, cy - 3 * s, 1.6 * s, 0.7 * s), jitter([0.95, 0.75, 0.2], 0.05))
        paint(ellipse(cx - 1 * s, cy - 2 * s, 4 * s, 1.5 * s, -0.5), colour * 0.7)
    elif label in (3, 5):    # cat: round head, pointed ears; dog: longer head, hanging ears, snout
        colour = jitter(rng.choice([[0.6, 0.6, 0.6], [0.85, 0.55, 0.25], [0.25, 0.2, 0.2], [0.9, 0.85, 0.8]]), 0.08)
        paint(ellipse(cx - 3 * s, cy + 5 * s, 8 * s, 5 * s), colour * 0.9)           # body
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
    elif label in (4, 7):    # deer: slim body, thin legs, antlers; horse: heavier body, long neck and head
        colour = jitter([0.6, 0.4, 0.22] if label == 4 else rng.choice([[0.45, 0.28, 0.15], [0.15, 0.1, 0.1],
                                                                       [0.85, 0.82, 0.78]]), 0.07)
        thick = 1.0 if label == 4 else 1.4
        paint(ellipse(cx, cy, 8 * s, 3.5 * s * thick), colour)
        for lx in (-6, -4, 4, 6):
            paint(box(cx + lx * s - 0.6 * thick, cy + 2 * s, cx + lx * s + 0.6 * thick, cy + 10 * s), colour * 0.85)
        paint(ellipse(cx + 8 * s, cy - 5 * s, 1.6 * s * thick, 5 * s, 0.5), colour)
        paint(ellipse(cx + 10.5 * s, cy - 9 * s, 3 * s, 1.6 * s, 0.4 if label == 4 else 0.7), colour)
        if label == 4:
            for ax in (-1.5, 1.5):
                paint(ellipse(cx + 9.5 * s + ax * s, cy - 13 * s, 0.6 * s, 3 * s, 0.4 * ax), jitter([0.35, 0.25, 0.15], 0.05))
        else:
            paint(ellipse(cx - 9 * s, cy + 2 * s, 1.2 * s, 4.5 * s, 0.4), colour * 0.6)     # tail
    elif label == 6:     # frog: wide flat body, two eyes on top, spots
        colour = jitter([0.3, 0.6, 0.25], 0.1)
        paint(ellipse(cx, cy + 2 * s, 9 * s, 5 * s), colour)
        for ex in (-4, 4):
            paint(ellipse(cx + ex * s, cy - 3 * s, 2.2 * s, 2.2 * s), colour)
            paint(ellipse(cx + ex * s, cy - 3.3 * s, 1 * s, 1 * s), dark)
            paint(ellipse(cx + ex * 1.8 * s, cy + 6 * s, 3.5 * s, 1.5 * s), colour * 0.8)
        for _ in range(3):
            paint(ellipse(cx + rng.uniform(-6, 6) * s, cy + rng.uniform(0, 4) * s, 1, 1), colour * 0.6)
    else:                # ship: hull, deck house, mast
        hull = jitter(rng.choice([[0.15, 0.15, 0.2], [0.8, 0.2, 0.15], [0.9, 0.9, 0.9]]), 0.05)
        paint(ellipse(cx, cy, 13 * s, 5 * s) * (yy > cy), hull)                        # lower half: the hull
        paint(box(cx - 5 * s, cy - 5 * s, cx + 4 * s, cy), jitter([0.9, 0.9, 0.88], 0.05))
        paint(box(cx - 0.6, cy - 11 * s, cx + 0.6, cy - 5 * s), dark)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    img = img * rng.uniform(0.75, 1.15) + rng.normal(0, 0.03, img.shape)          # lighting and sensor noise
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


def standin_folder(cache_dir=None) -> Path:
    """The stand-in's ``cifar-10-batches-py`` folder in the course cache, written on first use."""
    folder = (Path(cache_dir) if cache_dir else course_cache_dir()) / f"cifar10_standin_v{STANDIN_VERSION}" / "cifar-10-batches-py"
    if not all((folder / name).is_file() for name in CIFAR10_FILES):
        print(f"Drawing the course's CIFAR-10 stand-in ({sum(STANDIN_PER_CLASS) * 10} images, once); "
              f"it is cached in {folder}.")
        write_cifar10_folder(folder, *make_cifar10_standin())
    return folder


def _keras_cifar10_folder() -> Path:
    from keras.src.backend import config as keras_config

    return Path(keras_config.keras_home()) / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"


def _select(x, y, classes, per_class):
    """Keep ``classes`` (relabelled 0, 1, ... in the order given) and the first ``per_class`` images of each."""
    keep = np.zeros(len(y), bool)
    new_y = np.full(len(y), -1, np.int64)
    for new, old in enumerate(classes):
        idx = np.flatnonzero(y == old)
        if per_class is not None:
            if len(idx) < per_class:
                raise ValueError(f"class {old} has {len(idx)} images here, fewer than per_class={per_class}")
            idx = idx[:per_class]
        keep[idx] = True
        new_y[idx] = new
    return x[keep], new_y[keep]


def load_cifar10(classes=None, per_class=None, path=None, test_per_class=None, download=None):
    """CIFAR-10 when it can be had offline, otherwise the course's stand-in in the same format (with a message).

    The data come from the first of these that works:

    1. ``path``, or the folder named by ``$RESNET_COURSE_CIFAR10``: a ``cifar-10-batches-py``
       folder in the official Python format (an error there is raised, not skipped);
    2. the Keras cache: the folder ``keras.datasets.cifar10.load_data()`` unpacks into
       ``~/.keras/datasets/``; when it is missing, ``load_data()`` is tried only if
       ``download`` is true (default: in full mode), with a short network timeout;
    3. the course's stand-in (``make_cifar10_standin``), written once to the course cache
       in the official format and read back by the same reader. **Not CIFAR-10.**

    Args:
        classes: class indices to keep (default: all 10); labels are renumbered 0, 1, ...
            in this order, and ``class_names`` follows it.
        per_class: keep the first ``per_class`` training images of each class (default: all).
        path: a ``cifar-10-batches-py`` folder; overrides the environment variable.
        test_per_class: the same for the test images (default: all).
        download: whether ``keras.datasets.cifar10.load_data()`` may download (170 MB).

    Returns:
        A ``Cifar10``: ``(x_train, y_train, x_test, y_test, class_names)`` with uint8 images
        ``(N, 32, 32, 3)`` and int64 labels ``(N,)``, plus ``.source`` and ``.description``.
    """
    folder = path if path is not None else os.environ.get(CIFAR10_ENV, "").strip() or None
    if folder is not None:
        data, source = read_cifar10_folder(folder), "folder"
        description = f"CIFAR-10 from the folder {Path(folder).expanduser()}"
    elif all((_keras_cifar10_folder() / name).is_file() for name in CIFAR10_FILES):
        data, source = read_cifar10_folder(_keras_cifar10_folder()), "keras"
        description = f"CIFAR-10 from the Keras cache ({_keras_cifar10_folder()})"
    else:
        data = None
        if download if download is not None else not fast_mode():
            data = _download_cifar10()
        if data is not None:
            source, description = "keras", "CIFAR-10 downloaded by keras.datasets.cifar10.load_data()"
        else:
            data, source = read_cifar10_folder(standin_folder()), "standin"
            description = ("the course's STAND-IN for CIFAR-10 (procedural drawings in CIFAR-10's format, "
                           f"{STANDIN_PER_CLASS[0]} training and {STANDIN_PER_CLASS[1]} test images per class): "
                           "numbers measured on it are NOT CIFAR-10 results")
    x_train, y_train, x_test, y_test, names = data
    classes = list(range(10)) if classes is None else [int(c) for c in classes]
    if not classes or len(set(classes)) != len(classes) or min(classes) < 0 or max(classes) > 9:
        raise ValueError(f"classes must be distinct indices from 0 to 9, got {classes}")
    x_train, y_train = _select(x_train, y_train, classes, per_class)
    x_test, y_test = _select(x_test, y_test, classes, test_per_class)
    return Cifar10(x_train, y_train, x_test, y_test, tuple(names[c] for c in classes), source, description)


_DOWNLOAD_FAILED = False


def _download_cifar10():
    """``keras.datasets.cifar10.load_data()`` with a short network timeout, or ``None`` (reason printed)."""
    import socket

    import keras

    global _DOWNLOAD_FAILED
    if _DOWNLOAD_FAILED:              # one attempt per session: offline, every further try fails the same way
        return None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as exc:  # noqa: BLE001 - offline: URL, DNS and proxy errors
        _DOWNLOAD_FAILED = True
        print(f"CIFAR-10 is not in the Keras cache and could not be downloaded "
              f"({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}).")
        return None
    finally:
        socket.setdefaulttimeout(previous)
    return x_train, y_train.ravel().astype(np.int64), x_test, y_test.ravel().astype(np.int64), CIFAR10_CLASSES


# =========================================================================== what the student sees
# Helpers that keep the course's plumbing out of what a notebook shows: a quiet TensorFlow start,
# training progress suited to where the notebook runs, the key metric handed to the course runner
# without a printed line, and fast-mode-aware plots.
METRICS_ENV = "RESNET_COURSE_METRICS"     # set by tools.run_course: the file report_metric appends to
HEADLESS_ENV = "RESNET_COURSE_HEADLESS"   # set by tools.run_course and the test suite: no one watches the cells


def start_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras once, with their start-up logs kept off the notebook.

    While it loads, TensorFlow's C++ runtime writes to file descriptor 2 (absl's "All log messages before
    absl::InitializeLog() is called are written to STDERR", the oneDNN and CPU-instruction notices), which
    Jupyter shows as a red stderr box; ``TF_CPP_MIN_LOG_LEVEL`` does not reach all of them. The setup cell
    calls this first: the import runs with descriptor 2 (and ``sys.stderr``) pointed at /dev/null, then
    both are put back, so errors and warnings after start-up show as usual. An import that fails still
    raises its exception.
    """
    import contextlib
    import io
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # On CPUs without AVX-512, TensorFlow uses oneDNN only when asked; without it one gradient of ResNet-50's
    # last stage is 20 to 40 times slower (see the Makefile and docs/results.md).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with contextlib.redirect_stderr(io.StringIO()):
            import tensorflow  # noqa: F401
            import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def headless() -> bool:
    """Whether the notebook runs without anyone watching: the course runner, the tests or nbgrader."""
    return bool(_env_flag(HEADLESS_ENV, "headless", "interactive")) or bool(os.environ.get("NBGRADER_EXECUTION"))


def fit_verbosity() -> int:
    """``verbose=`` for ``model.fit``: a live progress bar (1) when a person runs the notebook,
    one line per epoch (2) in headless runs and grading, whose outputs are stored and read later."""
    return 2 if headless() else 1


def epoch_axis(ax, epochs: int) -> None:
    """Label ``ax``'s x axis for a curve over ``epochs`` epochs: whole-epoch ticks, and for a single epoch
    (fast mode) a centred point with a note instead of a lone dot on an axis from 0.96 to 1.04."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if epochs <= 1:
        ax.set_xlim(0, 2)
        ax.set_xticks([1])
        ax.text(0.5, 0.04, "one epoch (fast mode): a point, no curve", transform=ax.transAxes,
                ha="center", va="bottom", fontsize=8, color="0.35")
