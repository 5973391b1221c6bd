"""Data, plots, fast mode and weight helpers for the ResNet course.

Everything a notebook needs besides the exercises themselves:

* ``load_dataset`` / ``convert_to_one_hot``: the shipped finger-counting data
  (classic SIGNS key layout, so a copy of the original files loads unchanged).
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
    "DATASET_DIR", "DatasetError", "fast_mode", "course_setting", "load_dataset",
    "convert_to_one_hot", "report_metric", "plot_history", "plot_confusion_matrix",
    "predict_image", "keras_blocks", "weighted_layers_in_graph_order", "copy_weights",
    "refresh_batchnorm_statistics", "producer", "walk_nodes", "GESTURE_NAMES", "Pretrained",
    "imagenet_resnet50", "course_resnet50", "pretrained_resnet50", "course_cache_dir",
]

DATASET_DIR = Path(__file__).resolve().parent / "datasets"
FAST_ENV = "RESNET_COURSE_FAST"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class DatasetError(RuntimeError):
    """A dataset file is missing, unreadable or not in the expected layout."""


# --------------------------------------------------------------------------- fast mode
def fast_mode() -> bool:
    """Whether the notebooks should run in fast mode (tiny epochs and subsets).

    ``RESNET_COURSE_FAST=1`` turns fast mode on and ``RESNET_COURSE_FAST=0`` turns
    it off. When the variable is unset, fast mode follows ``NBGRADER_EXECUTION``,
    which nbgrader sets while it autogrades or validates a notebook.
    """
    value = os.environ.get(FAST_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if value:
        raise ValueError(f"{FAST_ENV}={value!r}: use 1 (fast mode) or 0 (full mode)")
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def course_setting(full, fast):
    """Return ``fast`` in fast mode and ``full`` otherwise, e.g. ``EPOCHS = course_setting(10, 1)``."""
    return fast if fast_mode() else full


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


GESTURE_NAMES = ("thumb", "little finger", "horns", "call me")   # classes of the gestures dataset


def load_dataset(path=None, name="signs"):
    """Load the finger-counting dataset (or, with ``name="gestures"``, the gestures dataset).

    Args:
        path: folder holding ``train_<name>.h5`` and ``test_<name>.h5``
            (default: the course's ``datasets/``).
        name: ``"signs"`` (counts 0 to 5) or ``"gestures"`` (the transfer-learning
            target task: 4 gestures, ``GESTURE_NAMES``, 15 training images per class).

    Returns:
        ``(X_train_orig, Y_train_orig, X_test_orig, Y_test_orig, classes)``:
        images of shape ``(m, 64, 64, 3)`` (uint8), labels of shape ``(1, m)``
        (int64) and the class values ``(6,)``.

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
    """Print the notebook's key metric in the line the course runner collects."""
    value = float(value)
    print(f"Key metric: {name} = {int(value) if value.is_integer() else round(value, 4)}")


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
        ax.set_xlabel("epoch")
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


def predict_image(model, image, class_names=None, image_size=None, show=True):
    """Predict the class of one image ("test on your own image").

    Args:
        model: a trained Keras model taking ``(batch, h, w, 3)`` images scaled to [0, 1].
        image: a path to any image file Pillow reads, or an ``(h, w, 3)`` array.
        class_names: optional names for the output classes.
        image_size: ``(h, w)`` to resize to (default: the model's input size).
        show: display the image with its prediction.

    Returns:
        ``(predicted_index, probabilities)``.
    """
    import keras

    height, width = image_size or tuple(model.input_shape[1:3])
    if isinstance(image, (str, os.PathLike)):
        img = keras.utils.load_img(image, target_size=(height, width))
        arr = keras.utils.img_to_array(img)
    else:
        arr = np.asarray(image, dtype="float32")
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise ValueError(f"expected an image of shape (h, w, 3), got {arr.shape}")
        if arr.shape[:2] != (height, width):
            arr = keras.ops.convert_to_numpy(keras.ops.image.resize(arr, (height, width)))
    x = arr[None] / 255.0 if arr.max() > 1.0 else arr[None]
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


def _train_course_checkpoint(path: Path, input_shape, seed: int = 0) -> None:
    """Train ResNet-50 on the finger-counting dataset (the source task) and save its weights to ``path``."""
    import keras

    X_train, Y_train, _, _, classes = load_dataset()
    n_train = course_setting(len(X_train), 64)
    x = _unit_scale(X_train[:n_train])
    y = convert_to_one_hot(Y_train[:, :n_train], len(classes)).T
    epochs, batch_size = course_setting(10, 1), 32
    keras.utils.set_random_seed(seed)
    model = keras.applications.ResNet50(weights=None, input_shape=tuple(input_shape), classes=len(classes))
    steps = epochs * int(np.ceil(len(x) / batch_size))
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=steps)),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    refresh_batchnorm_statistics(model, x, batch_size=batch_size, seed=seed)
    clean = keras.applications.ResNet50(weights=None, input_shape=tuple(input_shape), classes=len(classes))
    clean.set_weights(model.get_weights())        # an uncompiled copy: the file holds no optimizer state
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.weights.h5")
    clean.save_weights(tmp)
    os.replace(tmp, path)


def course_resnet50(input_shape=(64, 64, 3), cache_dir=None, train=True):
    """The course's own pretrained ResNet-50: trained on finger counting (the source task), headless.

    The checkpoint is cached outside the repository, in ``course_cache_dir()`` (or
    ``cache_dir``), one file per mode (fast mode's is trained on a tiny subset and
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
    path = (Path(cache_dir) if cache_dir else course_cache_dir()) / f"signs_resnet50_{shape[0]}x{shape[1]}_{mode}.weights.h5"
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
