"""The transfer-learning notebook's weights: ImageNet through the Keras cache, else the course's own checkpoint.

No test needs the network: the ImageNet file is made here from a randomly initialised
``keras.applications.ResNet50`` in the format and under the name Keras downloads it.
"""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

import resnets_utils
from tools.notebooks import load_solution

SHAPE = (64, 64, 3)


def _write_imagenet_file(cache_dir, seed=0):
    """A headless ResNet-50 with random weights, saved as Keras's ImageNet file (legacy HDF5) in ``cache_dir/models``."""
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(seed)
    model = keras.applications.ResNet50(weights=None, include_top=False, input_shape=SHAPE)
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # moving statistics away from 0 and 1, so they must be copied too
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([g, b, rng.normal(0, 0.1, m.shape), rng.uniform(0.5, 2.0, v.shape)])
    path = cache_dir / "models" / resnets_utils.IMAGENET_NOTOP
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return model, path


def test_imagenet_weights_load_from_the_keras_cache_into_the_learners_resnet50(tmp_path, capsys):
    import keras

    reference, path = _write_imagenet_file(tmp_path)
    # The file is in the format keras.applications itself loads its ImageNet weights from.
    direct = keras.applications.ResNet50(weights=str(path), include_top=False, input_shape=SHAPE)
    found = resnets_utils.imagenet_resnet50(SHAPE, cache_dir=tmp_path, download=False)
    assert found is not None and found.source == "imagenet" and "ImageNet" in found.description
    model = load_solution("load_pretrained", overrides={"ResNet50": load_solution("ResNet50")})(found.model, 4)
    gap = next(layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    x = found.preprocess(np.random.default_rng(1).integers(0, 256, (2, *SHAPE)).astype("uint8"))
    expected = keras.ops.convert_to_numpy(reference(x, training=False))
    for other in (found.model, direct, keras.Model(model.input, gap.input)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(other(x, training=False)), expected, rtol=1e-4, atol=1e-4)
    assert model.output_shape == (None, 4)


def test_imagenet_weights_not_cached_and_no_download_gives_none(tmp_path, capsys):
    assert resnets_utils.imagenet_resnet50(SHAPE, cache_dir=tmp_path, download=False) is None
    assert "not in the Keras cache" in capsys.readouterr().out


def test_offline_fallback_trains_the_course_checkpoint_once_then_reuses_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RESNET_COURSE_FAST", "1")  # fast mode never downloads ImageNet weights
    monkeypatch.delenv("RESNET_COURSE_WEIGHTS", raising=False)
    found = resnets_utils.pretrained_resnet50(SHAPE, cache_dir=tmp_path / "keras", course_cache=tmp_path / "course")
    out = capsys.readouterr().out
    assert found.source == "course" and "finger counting" in found.description
    assert "Falling back" in out and "Training the course checkpoint" in out
    files = list((tmp_path / "course").glob("*.weights.h5"))
    digest = hashlib.sha256((resnets_utils.DATASET_DIR / "train_signs.h5").read_bytes())
    digest.update(f"{resnets_utils.CHECKPOINT_RECIPE}/{resnets_utils.COURSE_EPOCHS}".encode())  # data and recipe
    tag = digest.hexdigest()[:8]
    assert [p.name for p in files] == [f"signs_resnet50_64x64_fast_{tag}.weights.h5"]  # stale data, new name
    assert found.model.output_shape == (None, 2, 2, 2048)
    again = resnets_utils.course_resnet50(SHAPE, cache_dir=tmp_path / "course", train=False)
    assert "Training" not in capsys.readouterr().out
    x = found.preprocess(np.full((1, *SHAPE), 128, dtype="uint8"))
    np.testing.assert_allclose(np.asarray(again.model(x)), np.asarray(found.model(x)), rtol=1e-5, atol=1e-5)
    assert resnets_utils.course_resnet50(SHAPE, cache_dir=tmp_path / "empty", train=False) is None


def test_weights_choice_is_validated(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_COURSE_FAST", "1")
    monkeypatch.setenv("RESNET_COURSE_WEIGHTS", "imagenet")
    with pytest.raises(RuntimeError, match="neither cached nor downloadable"):
        resnets_utils.pretrained_resnet50(SHAPE, cache_dir=tmp_path)
    monkeypatch.setenv("RESNET_COURSE_WEIGHTS", "both")
    with pytest.raises(ValueError, match="use imagenet or course"):
        resnets_utils.pretrained_resnet50(SHAPE, cache_dir=tmp_path)
