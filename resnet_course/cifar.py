"""CIFAR-10 for the case study: the official folder, the Keras cache, or the course's stand-in."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import config
from .config import CIFAR10_ENV
from .data import DatasetError
from .fast import fast_mode
from .keras_internals import keras_home
from .pretrained import course_cache_dir
from .standin import STANDIN_PER_CLASS, make_cifar10_standin

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_FILES = CIFAR10_TRAIN_FILES + ("test_batch", "batches.meta")
STANDIN_VERSION = 1  # bump when the stand-in's drawing changes: the cached copy is then rebuilt


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


_CIFAR_REMEDY = (
    f"Point {CIFAR10_ENV} at the folder `cifar-10-batches-py` unpacked from the official "
    "`cifar-10-python.tar.gz` (all of data_batch_1..5, test_batch and batches.meta), "
    f"or unset {CIFAR10_ENV} to use the Keras cache or the course's stand-in."
)


_CIFAR_PICKLE_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)


def _read_cifar_pickle(path: Path, remedy: str = _CIFAR_REMEDY) -> dict:
    import pickle

    if not path.is_file():
        raise DatasetError(f"CIFAR-10 file not found: {path}. {remedy}")

    class NumpyOnly(pickle.Unpickler):
        """Rebuilds numpy arrays and nothing else: a pickle naming any other global is refused."""

        def find_class(self, module, name):
            if (module, name) in _CIFAR_PICKLE_GLOBALS:
                return super().find_class(module, name)
            raise pickle.UnpicklingError(
                f"refusing the global {module}.{name}: the official files hold only "
                "dicts, lists, bytes and numpy arrays"
            )

    try:
        with open(path, "rb") as f:
            data = NumpyOnly(f, encoding="bytes").load()
    except Exception as exc:  # noqa: BLE001 - truncated or foreign files raise many kinds of errors
        raise DatasetError(
            f"CIFAR-10 file {path} could not be read as a Python pickle "
            f"({type(exc).__name__}: {str(exc)[:200]}). {remedy}"
        ) from None
    if not isinstance(data, dict):
        raise DatasetError(
            f"CIFAR-10 file {path} holds a {type(data).__name__}, not the dict of the official format. {remedy}"
        )
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in data.items()}


def _read_cifar_batch(path: Path, remedy: str = _CIFAR_REMEDY):
    """Images ``(N, 32, 32, 3)`` uint8 and labels ``(N,)`` int64 of one batch file in the official format."""
    data = _read_cifar_pickle(path, remedy)
    missing = [k for k in ("data", "labels") if k not in data]
    if missing:
        raise DatasetError(
            f"CIFAR-10 file {path} has no key(s) {[k.encode() for k in missing]}; it holds {sorted(data)}. {remedy}"
        )
    x, y = np.asarray(data["data"]), np.asarray(data["labels"])
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or y.shape != (len(x),):
        raise DatasetError(
            f"CIFAR-10 file {path}: b'data' is {x.dtype} of shape {x.shape} and b'labels' has "
            f"shape {y.shape}; expected uint8 (N, 3072) and (N,). {remedy}"
        )
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
            pickle.dump(obj, f, protocol=3)  # bytes stored as bytes, as the official files read
        os.replace(tmp, folder / name)

    def batch(label, x, y):
        rows = np.ascontiguousarray(np.asarray(x, np.uint8).transpose(0, 3, 1, 2).reshape(len(x), 3072))
        return {
            b"batch_label": label.encode(),
            b"labels": [int(v) for v in y],
            b"data": rows,
            b"filenames": [f"course_{label.split()[-1]}_{i:05d}.png".encode() for i in range(len(x))],
        }

    for i, (x, y) in enumerate(zip(np.array_split(np.asarray(x_train), 5), np.array_split(np.asarray(y_train), 5)), 1):
        dump(f"data_batch_{i}", batch(f"training batch {i} of 5", x, y))
    dump("test_batch", batch("testing batch 1 of 1", x_test, y_test))
    dump(
        "batches.meta",
        {
            b"label_names": [n.encode() for n in class_names],
            b"num_cases_per_batch": int(np.ceil(len(x_train) / 5)),
            b"num_vis": 3072,
        },
    )
    return folder


def standin_folder(cache_dir=None) -> Path:
    """The stand-in's ``cifar-10-batches-py`` folder in the course cache, written on first use."""
    folder = (
        (Path(cache_dir) if cache_dir else course_cache_dir())
        / f"cifar10_standin_v{STANDIN_VERSION}"
        / "cifar-10-batches-py"
    )
    if not all((folder / name).is_file() for name in CIFAR10_FILES):
        print(
            f"Drawing the course's CIFAR-10 stand-in ({sum(STANDIN_PER_CLASS) * 10} images, once); "
            f"it is cached in {folder}."
        )
        write_cifar10_folder(folder, *make_cifar10_standin())
    return folder


def _keras_cifar10_folder() -> Path:
    return keras_home() / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"


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
    folder = path if path is not None else config.value(CIFAR10_ENV) or None
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
            description = (
                "the course's STAND-IN for CIFAR-10 (procedural drawings in CIFAR-10's format, "
                f"{STANDIN_PER_CLASS[0]} training and {STANDIN_PER_CLASS[1]} test images per class): "
                "numbers measured on it are NOT CIFAR-10 results"
            )
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
    if _DOWNLOAD_FAILED:  # one attempt per session: offline, every further try fails the same way
        return None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as exc:  # noqa: BLE001 - offline: URL, DNS and proxy errors
        _DOWNLOAD_FAILED = True
        print(
            f"CIFAR-10 is not in the Keras cache and could not be downloaded "
            f"({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''})."
        )
        return None
    finally:
        socket.setdefaulttimeout(previous)
    return x_train, y_train.ravel().astype(np.int64), x_test, y_test.ravel().astype(np.int64), CIFAR10_CLASSES
