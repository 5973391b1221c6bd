"""The CIFAR-10 loader of the case study, on tiny folders in the official pickle format written here.

No test needs the network or the real data set: each writes its own ``cifar-10-batches-py``
folder byte for byte as the official archive lays it out (one pickled dict per batch,
``b"data"`` uint8 rows of 3072 values: the red, green and blue 32x32 planes, row-major).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import resnets_utils as ru


def _image(label, index):
    """A 32x32x3 image whose pixels encode its label and index, and whose colour planes differ."""
    img = np.zeros((32, 32, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = label, index % 256, 200
    img[0, 1, 0] = 7  # row 0, column 1 of the red plane: checks row-major order
    return img


def _write_official(folder, per_batch=6, test=8, names=ru.CIFAR10_CLASSES):
    """Write the official layout by hand (not with the course's writer), labels cycling 0..9."""
    folder.mkdir(parents=True)
    counter = 0

    def batch(n):
        nonlocal counter
        labels = [(counter + i) % 10 for i in range(n)]
        images = [_image(label, counter + i) for i, label in enumerate(labels)]
        rows = np.stack([img.transpose(2, 0, 1).reshape(3072) for img in images])
        counter += n
        return {
            b"batch_label": b"x",
            b"labels": labels,
            b"data": rows,
            b"filenames": [b"f%d.png" % i for i in range(n)],
        }

    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch(per_batch), protocol=3))
    (folder / "test_batch").write_bytes(pickle.dumps(batch(test), protocol=3))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [n.encode() for n in names]}, protocol=3))
    return folder


def _keras_home(monkeypatch, folder):
    """Point the Keras cache (``~/.keras``, read by Keras at import) at ``folder``."""
    from keras.src.backend import config as keras_config

    monkeypatch.setattr(keras_config, "keras_home", lambda: str(folder))


@pytest.fixture
def cifar_folder(tmp_path):
    return _write_official(tmp_path / "cifar-10-batches-py")


def test_reads_the_official_format_shapes_dtypes_and_pixel_order(cifar_folder):
    data = ru.load_cifar10(path=cifar_folder)
    x_train, y_train, x_test, y_test, names = data
    assert x_train.shape == (30, 32, 32, 3) and x_test.shape == (8, 32, 32, 3)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64 and y_train.shape == (30,)
    assert names == ru.CIFAR10_CLASSES and data.source == "folder" and data.is_cifar10
    assert y_train.tolist() == [i % 10 for i in range(30)]  # file order, batches 1..5 in turn
    assert (x_train[:, :, :, 0].max(axis=(1, 2)) == np.maximum(y_train, 7)).all()
    assert (x_train[:, 0, 1, 0] == 7).all() and (x_train[:, 1, 0, 0] == y_train).all()
    assert (x_train[:, 5, 5, 1] == np.arange(30)).all() and (x_train[..., 2] == 200).all()
    assert y_test.tolist() == [(30 + i) % 10 for i in range(8)]


def test_class_selection_relabels_in_the_order_given(cifar_folder):
    data = ru.load_cifar10(classes=[2, 0], path=cifar_folder)
    assert data.class_names == ("bird", "airplane")
    assert sorted(set(data.y_train.tolist())) == [0, 1]
    # label 0 now means bird (original class 2): its red plane holds 2
    assert (data.x_train[data.y_train == 0][:, 5, 5, 0] == 2).all()
    assert (data.x_train[data.y_train == 1][:, 5, 5, 0] == 0).all()
    assert len(data.x_train) == 6  # 3 of each class in the 30 images


def test_per_class_keeps_the_first_images_of_each_class(cifar_folder):
    data = ru.load_cifar10(classes=[0, 1, 2], per_class=2, path=cifar_folder, test_per_class=1)
    assert np.bincount(data.y_train).tolist() == [2, 2, 2] and np.bincount(data.y_test).tolist() == [1, 1, 1]
    assert data.x_train[:, 5, 5, 1].tolist() == [0, 1, 2, 10, 11, 12]  # indices: the first two of each, file order
    with pytest.raises(ValueError, match="fewer than per_class=4"):
        ru.load_cifar10(classes=[0], per_class=4, path=cifar_folder)
    with pytest.raises(ValueError, match="distinct indices"):
        ru.load_cifar10(classes=[0, 0], path=cifar_folder)


def test_environment_variable_names_the_folder(cifar_folder, monkeypatch):
    monkeypatch.setenv(ru.CIFAR10_ENV, str(cifar_folder))
    data = ru.load_cifar10()
    assert data.source == "folder" and str(cifar_folder) in data.description and len(data.x_train) == 30


def test_missing_file_names_the_file_and_the_remedy(cifar_folder, monkeypatch):
    (cifar_folder / "data_batch_3").unlink()
    monkeypatch.setenv(ru.CIFAR10_ENV, str(cifar_folder))
    with pytest.raises(ru.DatasetError, match=r"not found: .*data_batch_3\. Point RESNET_COURSE_CIFAR10 at"):
        ru.load_cifar10()
    with pytest.raises(ru.DatasetError, match=r"folder not found: .*nowhere"):
        ru.load_cifar10(path=cifar_folder / "nowhere")


def test_corrupt_files_name_the_file_and_the_remedy(cifar_folder):
    (cifar_folder / "test_batch").write_bytes(b"\x80\x02this is not a pickle")
    with pytest.raises(ru.DatasetError, match=r"test_batch could not be read as a Python pickle.*cifar-10-python"):
        ru.load_cifar10(path=cifar_folder)
    (cifar_folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ru.DatasetError, match=r"test_batch: b'data' is uint8 of shape \(2, 100\).*expected uint8"):
        ru.load_cifar10(path=cifar_folder)
    (cifar_folder / "test_batch").write_bytes(pickle.dumps({b"images": []}))
    with pytest.raises(ru.DatasetError, match=r"test_batch has no key\(s\) \[b'data', b'labels'\]"):
        ru.load_cifar10(path=cifar_folder)
    (cifar_folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a"]}))
    (cifar_folder / "test_batch").unlink()
    _write_official(cifar_folder.parent / "other")
    (cifar_folder / "test_batch").write_bytes((cifar_folder.parent / "other" / "test_batch").read_bytes())
    with pytest.raises(ru.DatasetError, match=r"batches\.meta has no list of 10"):
        ru.load_cifar10(path=cifar_folder)


def test_a_pickle_that_would_run_code_is_refused(cifar_folder):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    (cifar_folder / "data_batch_2").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(ru.DatasetError, match=r"data_batch_2 could not be read.*refusing the global builtins\.print"):
        ru.load_cifar10(path=cifar_folder)


def test_the_course_writer_round_trips_and_matches_keras_reader(tmp_path):
    from keras.src.datasets.cifar import load_batch

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (25, 32, 32, 3), dtype=np.uint8)
    y = np.arange(25) % 10
    folder = ru.write_cifar10_folder(tmp_path / "c", x[:20], y[:20], x[20:], y[20:])
    x_train, y_train, x_test, y_test, names = ru.read_cifar10_folder(folder)
    assert (x_train == x[:20]).all() and (y_train == y[:20]).all() and (x_test == x[20:]).all()
    keras_x, keras_y = load_batch(str(folder / "data_batch_1"))  # Keras's own reader: (N, 3, 32, 32)
    assert (keras_x.transpose(0, 2, 3, 1) == x[:4]).all() and list(keras_y) == list(y[:4])


def test_offline_without_cifar10_the_standin_is_used_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ru.CIFAR10_ENV, raising=False)
    _keras_home(monkeypatch, tmp_path / "keras")  # an empty Keras cache
    monkeypatch.setenv(ru.CACHE_ENV, str(tmp_path / "course"))
    from resnet_course import cifar

    monkeypatch.setattr(cifar, "STANDIN_PER_CLASS", (3, 2))
    real = ru.make_cifar10_standin
    monkeypatch.setattr(cifar, "make_cifar10_standin", lambda: real(3, 2))
    data = ru.load_cifar10(classes=[0, 1, 2], download=False)
    assert data.source == "standin" and not data.is_cifar10 and "NOT CIFAR-10" in data.description
    assert data.x_train.shape == (9, 32, 32, 3) and data.x_test.shape == (6, 32, 32, 3)
    assert "stand-in" in capsys.readouterr().out
    files = sorted(p.name for p in (tmp_path / "course").rglob("*") if p.is_file())
    assert files == sorted(ru.CIFAR10_FILES)  # written in the official format, then read
    again = ru.load_cifar10(classes=[0, 1, 2], download=False)  # from the cache, no redraw
    assert (again.x_train == data.x_train).all() and "stand-in" not in capsys.readouterr().out


def test_a_keras_cached_copy_is_used_before_the_standin(tmp_path, monkeypatch):
    monkeypatch.delenv(ru.CIFAR10_ENV, raising=False)
    _keras_home(monkeypatch, tmp_path / "keras")
    _write_official(tmp_path / "keras" / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py")
    data = ru.load_cifar10(download=False)
    assert data.source == "keras" and len(data.x_train) == 30


def test_the_standin_is_deterministic_and_balanced():
    a = ru.make_cifar10_standin(4, 2, seed=0)
    b = ru.make_cifar10_standin(4, 2, seed=0)
    assert all((u == v).all() for u, v in zip(a, b))
    x_train, y_train, x_test, y_test = a
    assert x_train.shape == (40, 32, 32, 3) and x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert np.bincount(y_train).tolist() == [4] * 10 and np.bincount(y_test).tolist() == [2] * 10
    assert not (x_train[:20] == x_test[:20]).all()
