"""resnets_utils: data loading and its errors, one-hot, fast mode, plots, prediction, weight copying."""

from __future__ import annotations

import h5py
import matplotlib
import numpy as np
import pytest

import resnets_utils as ru
from resnet_course.data import unlike_training_photos

matplotlib.use("Agg")


def test_load_dataset_shapes_and_types():
    X_train, Y_train, X_test, Y_test, classes = ru.load_dataset()
    assert X_train.shape == (1057, 64, 64, 3) and X_test.shape == (180, 64, 64, 3)
    assert X_train.dtype == np.uint8 and Y_train.dtype == np.int64
    assert Y_train.shape == (1, 1057) and Y_test.shape == (1, 180)
    assert list(classes) == [0, 1, 2, 3, 4, 5]
    assert min(np.bincount(Y_train.ravel())) >= 170
    assert np.bincount(Y_test.ravel()).tolist() == [30] * 6


def test_load_the_target_task_of_digits_6_to_9():
    X_train, Y_train, X_test, Y_test, classes = ru.load_dataset(name=ru.SIGNS_6TO9)
    assert X_train.shape == (60, 64, 64, 3) and len(X_test) >= 600
    assert list(classes) == [6, 7, 8, 9]
    assert np.bincount(Y_train.ravel()).tolist() == [15] * 4 and set(Y_test.ravel()) == {0, 1, 2, 3}


def test_files_use_the_classic_signs_layout():
    with h5py.File(ru.DATASET_DIR / "train_signs.h5") as f:
        assert {"train_set_x", "train_set_y", "list_classes"} <= set(f)
    with h5py.File(ru.DATASET_DIR / "test_signs.h5") as f:
        assert {"test_set_x", "test_set_y", "list_classes"} <= set(f)


def _write(folder, name, prefix, x, y):
    with h5py.File(folder / name, "w") as f:
        f[f"{prefix}_x"] = x
        f[f"{prefix}_y"] = y
        f["list_classes"] = np.arange(6)


def test_load_dataset_from_another_folder(tmp_path):
    x = np.zeros((4, 8, 8, 3), np.uint8)
    _write(tmp_path, "train_signs.h5", "train_set", x, np.arange(4))
    _write(tmp_path, "test_signs.h5", "test_set", x[:2], np.arange(2))
    X_train, Y_train, X_test, Y_test, classes = ru.load_dataset(tmp_path)
    assert X_train.shape == (4, 8, 8, 3) and Y_test.shape == (1, 2)


def test_missing_file_names_file_and_remedy(tmp_path):
    with pytest.raises(ru.DatasetError, match=r"not found: .*train_signs\.h5.*tools\.make_dataset"):
        ru.load_dataset(tmp_path)


def test_corrupt_file_names_file_and_remedy(tmp_path):
    (tmp_path / "train_signs.h5").write_bytes(b"this is not an HDF5 file")
    with pytest.raises(ru.DatasetError, match=r"train_signs\.h5 could not be read.*git checkout"):
        ru.load_dataset(tmp_path)


def test_wrong_keys_and_shapes_are_reported(tmp_path):
    with h5py.File(tmp_path / "train_signs.h5", "w") as f:
        f["images"] = np.zeros((2, 8, 8, 3))
    with pytest.raises(ru.DatasetError, match=r"no key\(s\) \['train_set_x', 'train_set_y'\]"):
        ru.load_dataset(tmp_path)
    _write(tmp_path, "train_signs.h5", "train_set", np.zeros((4, 8, 8)), np.arange(4))
    with pytest.raises(ru.DatasetError, match="expected \\(m, height, width, 3\\)"):
        ru.load_dataset(tmp_path)


def test_convert_to_one_hot():
    Y = np.array([[0, 2, 5]])
    one_hot = ru.convert_to_one_hot(Y, 6)
    assert one_hot.shape == (6, 3)
    assert one_hot[:, 1].tolist() == [0, 0, 1, 0, 0, 0]
    with pytest.raises(ValueError, match="labels must lie in"):
        ru.convert_to_one_hot(np.array([6]), 6)


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, False),
        ({"RESNET_COURSE_FAST": "1"}, True),
        ({"RESNET_COURSE_FAST": "0"}, False),
        ({"NBGRADER_EXECUTION": "autograde"}, True),
        ({"NBGRADER_EXECUTION": "autograde", "RESNET_COURSE_FAST": "0"}, False),
    ],
)
def test_fast_mode_switch(monkeypatch, env, expected):
    monkeypatch.delenv("RESNET_COURSE_FAST", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert ru.fast_mode() is expected
    assert ru.course_setting(10, 1) == (1 if expected else 10)


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, 10),
        ({"RESNET_COURSE_PUBLISHED": "0"}, 10),
        ({"RESNET_COURSE_PUBLISHED": "1"}, 15),
        ({"RESNET_COURSE_PUBLISHED": "1", "RESNET_COURSE_FAST": "1"}, 1),  # fast mode wins
        ({"RESNET_COURSE_PUBLISHED": "1", "NBGRADER_EXECUTION": "autograde"}, 1),  # so does grading
    ],
)
def test_published_scale_is_opt_in_and_never_slows_fast_mode(monkeypatch, env, expected):
    for key in ("RESNET_COURSE_FAST", "NBGRADER_EXECUTION", "RESNET_COURSE_PUBLISHED"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert ru.course_setting(10, 1, published=15) == expected
    assert ru.course_setting(10, 1) == (1 if expected == 1 else 10)  # settings without a published size stay put
    assert ru.published_scale() is (expected == 15)


def test_published_scale_rejects_unclear_values(monkeypatch):
    monkeypatch.delenv("RESNET_COURSE_FAST", raising=False)
    monkeypatch.setenv("RESNET_COURSE_PUBLISHED", "full")
    with pytest.raises(ValueError, match="RESNET_COURSE_PUBLISHED='full'"):
        ru.published_scale()


def test_fast_mode_rejects_unclear_values(monkeypatch):
    monkeypatch.setenv("RESNET_COURSE_FAST", "maybe")
    with pytest.raises(ValueError, match="use 1"):
        ru.fast_mode()


def test_plots_return_figures():
    history = {"loss": [1.0, 0.5], "accuracy": [0.4, 0.8], "val_loss": [1.1, 0.7]}
    fig = ru.plot_history(history)
    assert len(fig.axes) == 2
    fig = ru.plot_confusion_matrix([0, 1, 1], [0, 1, 0], class_names=["a", "b"])
    assert fig.axes
    with pytest.raises(ValueError, match="none of"):
        ru.plot_history({"auc": [1]})


def _tiny_model():
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(2, 3)(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))


def test_predict_image_from_array_and_file(tmp_path, capsys):
    from PIL import Image

    model = _tiny_model()
    image = np.random.default_rng(0).integers(0, 255, (16, 16, 3)).astype(np.uint8)
    index, probs = ru.predict_image(model, image, show=False)
    assert 0 <= index < 3 and probs.shape == (3,)
    assert np.allclose(ru.predict_image(model, image / 255.0, show=False)[1], probs, atol=1e-6)
    Image.fromarray(np.repeat(np.repeat(image, 3, 0), 2, 1)).save(tmp_path / "hand.png")  # 48x32
    index2, probs2 = ru.predict_image(model, tmp_path / "hand.png", class_names=["a", "b", "c"], show=False)
    assert probs2.shape == (3,)
    out = capsys.readouterr().out
    assert "read a 32x48 PNG" in out and "cropped the centred 32x32 square" in out and "resized it to 16x16" in out
    with pytest.raises(ValueError, match="expected an array of shape \\(16, 16, 3\\)"):
        ru.predict_image(model, np.zeros((4, 4)), show=False)


def test_predict_image_refuses_what_it_cannot_predict_on_and_says_what_it_did(tmp_path, capsys):
    """No photo, a wrong number of class names, 16-bit pixels in an array: a clear error. A 16-bit PNG is scaled
    to 8 bits (Pillow alone would turn it white), a tiny photo is enlarged with a note."""
    from PIL import Image

    model = _tiny_model()
    with pytest.raises(TypeError, match="needs a photo.*got None"):
        ru.predict_image(model, None, show=False)
    image = np.random.default_rng(0).integers(0, 255, (16, 16, 3)).astype(np.uint8)
    with pytest.raises(ValueError, match="class_names has 2 names, the model has 3 classes"):
        ru.predict_image(model, image, class_names=["a", "b"], show=False)
    with pytest.raises(
        ValueError, match="uint8 pixels in \\[0, 255\\] or floats in \\[0, 1\\], got an array of uint16"
    ):
        ru.predict_image(model, image.astype(np.uint16) * 257, show=False)
    grey = (np.linspace(0, 65535, 32 * 32).reshape(32, 32)).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "deep.png")
    prepared, steps = ru.prepare_photo(tmp_path / "deep.png", size=32)
    assert "to 8 bits" in " ".join(steps) and prepared.min() == 0 and prepared.max() == 255 and prepared.mean() < 200
    Image.fromarray(image[:8, :10]).save(tmp_path / "tiny.png")
    ru.predict_image(model, tmp_path / "tiny.png", show=False)
    assert "enlarged from 8x8" in capsys.readouterr().out


def test_predict_image_says_when_a_photo_is_unlike_every_training_photo(capsys):
    """A training photo gets no note; the same photo much darker, or on a busy background, gets one naming how."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((64, 64, 3))
    model = keras.Model(inp, keras.layers.Dense(6, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inp)))
    photo = ru.load_dataset()[0][0]
    ru.predict_image(model, photo, show=False)
    assert "unlike the training photos" not in capsys.readouterr().out
    ru.predict_image(model, (photo * 0.3).astype(np.uint8), show=False)
    out = capsys.readouterr().out
    assert "unlike the training photos" in out and "darker than every training photo (brightness" in out, out
    busy, noise = photo.copy(), np.random.default_rng(0).integers(0, 255, (64, 64, 1)).astype(np.uint8)
    for edge in (np.s_[:8], np.s_[-8:], np.s_[:, :8], np.s_[:, -8:]):  # grey noise all round: a busy background
        busy[edge] = np.repeat(noise[edge], 3, axis=-1)
    ru.predict_image(model, busy, show=False)
    assert "busier at the edges" in capsys.readouterr().out
    wall = np.median(photo[0], axis=0).astype(np.uint8)
    aside = np.broadcast_to(wall, photo.shape).copy()
    aside[:, :40] = photo[:, 24:]  # the hand moved to the left edge of the frame
    ru.predict_image(model, aside, show=False)
    assert "with the hand further left than in every training photo (hand left to right" in capsys.readouterr().out
    grey = np.repeat(photo.mean(-1, keepdims=True), 3, axis=-1).astype(np.uint8)
    ru.predict_image(model, grey, show=False)
    out = capsys.readouterr().out
    assert "without a hand found by its colour" in out and "hand size" not in out, out


def test_no_test_photo_gets_a_note_and_most_copies_from_other_sources_do():
    """The notes are calibrated on the training photos: none of the 180 test photos (other signers, same setting)
    is flagged, most of notebook 4's copies from other sources are."""
    X_test = ru.load_dataset()[2]
    assert not any(unlike_training_photos(x) for x in X_test)
    flagged = sum(bool(unlike_training_photos(x)) for x in ru.other_sources(X_test, seed=0))
    assert flagged > 0.8 * len(X_test), flagged


def test_helpers_refuse_bad_input_with_what_they_expected():
    model = _tiny_model()
    with pytest.raises(TypeError, match="must be the training images"):
        ru.refresh_batchnorm_statistics(model, "X_train")
    with pytest.raises(ValueError, match="holds 0 images, fewer than one batch of 32"):
        ru.refresh_batchnorm_statistics(model, np.zeros((0, 16, 16, 3)))
    with pytest.raises(ValueError, match="labels must be whole numbers"):
        ru.convert_to_one_hot(np.array([0.0, 1.5]), 3)
    assert ru.convert_to_one_hot(np.array([0.0, 2.0]), 3).shape == (3, 2)
    with pytest.raises(ValueError, match="number of classes"):
        ru.convert_to_one_hot([0, 1], 2.0)
    with pytest.raises(ValueError, match="no dataset named 'digits': the course ships 'signs', 'signs6to9'"):
        ru.load_dataset(name="digits")


def _block_model(shortcut_first: bool, names: bool):
    """A conv block written by hand in two creation orders, to test copy_weights."""
    import keras
    from keras import layers

    inp = keras.Input((8, 8, 4))

    def main(x):
        x = layers.Conv2D(2, 1, strides=2, name="m1" if names else None)(x)
        x = layers.BatchNormalization(name="m1bn" if names else None)(x)
        x = layers.ReLU()(x)
        x = layers.Conv2D(2, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Conv2D(8, 1)(x)
        return layers.BatchNormalization()(x)

    def short(x):
        return layers.BatchNormalization()(layers.Conv2D(8, 1, strides=2)(x))

    if shortcut_first:
        s = short(inp)
        m = main(inp)
        out = layers.Add()([s, m])
    else:
        m = main(inp)
        s = short(inp)
        out = layers.Add()([m, s])
    return keras.Model(inp, layers.ReLU()(out))


def test_copy_weights_ignores_names_and_creation_order():
    import keras

    source, target = _block_model(False, True), _block_model(True, False)
    rng = np.random.default_rng(0)
    for w in source.weights:
        w.assign(
            rng.normal(0, 1, w.shape).astype("float32")
            if "variance" not in w.path
            else rng.uniform(0.5, 2, w.shape).astype("float32")
        )
    assert ru.copy_weights(source, target) == 8
    x = rng.normal(0, 1, (2, 8, 8, 4)).astype("float32")
    for mode in (False, True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(target(x, training=mode)),
            keras.ops.convert_to_numpy(source(x, training=mode)),
            atol=1e-5,
        )


def test_copy_weights_reports_the_first_difference():
    import keras

    a = _block_model(False, False)
    inp = keras.Input((8, 8, 4))
    b = keras.Model(inp, keras.layers.Conv2D(3, 1)(inp))
    with pytest.raises(ValueError, match="weighted layer #1 differs"):
        ru.copy_weights(a, b)


def test_keras_blocks_shapes_and_filter_rule():
    import keras

    identity_block, convolutional_block = ru.keras_blocks()
    x = keras.Input((8, 8, 16))
    assert tuple(identity_block(x, 3, [4, 4, 16]).shape) == (None, 8, 8, 16)
    assert tuple(convolutional_block(x, 3, [4, 4, 16], s=2).shape) == (None, 4, 4, 16)
    with pytest.raises(ValueError, match=r"\[F, F, 4F\]"):
        identity_block(x, 3, [4, 8, 16])


def test_course_resnet_matches_keras_applications_after_copy():
    """The reference solution is weight-compatible with keras.applications.ResNet50 (atol 1e-4)."""
    import keras

    from tools.notebooks import load_solution

    ours = load_solution("ResNet50")(input_shape=(64, 64, 3), classes=6)
    assert ours.count_params() == 23_600_006
    reference = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=6)
    ru.copy_weights(reference, ours)
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-4)


def test_refresh_batchnorm_statistics_computes_the_average_of_batch_statistics():
    import keras

    inp = keras.Input((4, 4, 3))
    bn = keras.layers.BatchNormalization()
    frozen = keras.layers.BatchNormalization()
    frozen.trainable = False
    model = keras.Model(inp, frozen(bn(inp)))
    x = np.random.default_rng(0).normal(3.0, 2.0, (64, 4, 4, 3)).astype("float32")
    assert ru.refresh_batchnorm_statistics(model, x, batch_size=16) == 1
    order = np.random.default_rng(0).permutation(64)
    batches = [x[order[i : i + 16]] for i in range(0, 64, 16)]
    np.testing.assert_allclose(
        bn.moving_mean.numpy(), np.mean([b.mean(axis=(0, 1, 2)) for b in batches], axis=0), rtol=1e-5
    )
    np.testing.assert_allclose(
        bn.moving_variance.numpy(), np.mean([b.var(axis=(0, 1, 2)) for b in batches], axis=0), rtol=1e-4
    )
    assert bn.momentum == 0.99
    np.testing.assert_allclose(frozen.moving_mean.numpy(), 0.0)


def test_count_flops_counts_the_multiply_adds_of_conv2d_and_dense_layers():
    import keras
    from keras import layers

    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same")(inputs)  # 8 * 8 * 4 outputs, 3 * 3 * 3 each
    x = layers.BatchNormalization()(x)  # not counted
    x = layers.Conv2D(6, 1, strides=2)(x)  # 4 * 4 * 6 outputs, 4 each
    inner = keras.Model(inputs, x)
    outer_in = keras.Input((8, 8, 3))
    y = layers.GlobalAveragePooling2D()(inner(outer_in))  # a nested model is counted layer by layer
    y = layers.Dense(5)(y)  # 6 * 5
    model = keras.Model(outer_in, y)
    assert ru.count_flops(model) == 8 * 8 * 4 * 27 + 4 * 4 * 6 * 4 + 6 * 5
    grouped_in = keras.Input((5, 5, 4))
    grouped = keras.Model(grouped_in, layers.Conv2D(6, 3, groups=2)(grouped_in))  # 3 * 3 * 6 outputs, 3 * 3 * 2 each
    assert ru.count_flops(grouped) == 3 * 3 * 6 * 18


def test_count_flops_gives_he_et_al_s_figure_for_resnet50():
    import keras

    model = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3))
    assert round(ru.count_flops(model) / 1e9, 2) == 3.86  # "3.8 x 10^9 FLOPs" (He et al., 2015, Table 1)
