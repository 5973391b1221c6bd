"""The shipped photos: provenance, a signer-disjoint split, byte-for-byte rebuilds, and photo preparation."""

from __future__ import annotations

import hashlib
import types

import h5py
import numpy as np
import pytest
from PIL import Image

import resnets_utils as ru
from tools import make_dataset

SOURCE = make_dataset.DEFAULT_SOURCE
NAMES = ("signs", ru.SIGNS_6TO9)


def _signers(name):
    return ru.load_signers(name=name)


@pytest.mark.parametrize("name", NAMES)
def test_no_signer_has_photos_on_both_sides(name):
    train, test = _signers(name)
    assert set(train).isdisjoint(test)


def test_the_target_task_uses_signers_of_its_own():
    fewshot_train, fewshot_test = _signers(ru.SIGNS_6TO9)
    signs_train, signs_test = _signers("signs")
    assert set(fewshot_train).isdisjoint(signs_test)  # picked among the 0-5 training signers
    assert len(set(fewshot_train)) == make_dataset.FEWSHOT_PER_CLASS


def test_transfer_calibration_folds_hold_out_whole_signers_once_each():
    from tools.calibrate_transfer import signer_folds

    signers, _ = _signers(ru.SIGNS_6TO9)
    folds = signer_folds(signers)
    assert np.array_equal(np.sum(folds, axis=0), np.ones(len(signers)))  # every photo validates exactly once
    for val in folds:
        assert set(signers[val]).isdisjoint(signers[~val])


def test_transfer_calibration_scores_the_features_of_every_listed_block(capsys):
    import keras

    from tools.calibrate_transfer import LAYERS, compare_layers, signer_folds

    keras.utils.set_random_seed(0)
    base = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 256, (12, 64, 64, 3)).astype("uint8"), np.tile([0, 1, 2, 3], 3)
    signers = np.repeat(np.arange(3), 4)  # one photo of each class per signer, as the target task has
    compare_layers(types.SimpleNamespace(model=base, preprocess=lambda x: x / 255.0), X, y, signer_folds(signers))
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(LAYERS)
    assert all("validation" in line and "flipped" in line for line in lines)


def test_the_test_split_is_balanced_and_whole_signers():
    _, Y_test = ru.load_dataset()[2:4]
    _, test = _signers("signs")
    assert np.bincount(Y_test.ravel()).tolist() == [make_dataset.TEST_SIGNERS] * 6
    for signer in np.unique(test):  # one photo of each digit per test signer
        assert sorted(Y_test.ravel()[test == signer]) == [0, 1, 2, 3, 4, 5]


def test_files_keep_the_classic_signs_layout():
    for split in ("train", "test"):
        with h5py.File(ru.DATASET_DIR / f"{split}_signs.h5") as f:
            assert {f"{split}_set_x", f"{split}_set_y", "list_classes", f"{split}_set_signer"} == set(f)
            assert f[f"{split}_set_x"].dtype == np.uint8 and f[f"{split}_set_x"].shape[1:] == (64, 64, 3)


def test_the_top_level_datasets_folder_is_the_package_data():
    """``datasets/train_signs.h5``, the classic assignment's path, opens from a checkout: the top-level folder is
    the package's (a link), so the two cannot differ; tests/test_wheel.py checks that the wheel carries the same
    files byte for byte."""
    from resnet_course.paths import ROOT

    top = ROOT / "datasets"
    assert top.resolve() == ru.DATASET_DIR.resolve()
    assert (top / "train_signs.h5").is_file() and (top / "NOTICE.md").is_file()
    X_train, *_ = ru.load_dataset(path=top)
    assert np.array_equal(X_train, ru.load_dataset()[0])


def test_provenance_travels_with_the_data():
    folder = ru.DATASET_DIR
    assert "Apache License" in (folder / "LICENSE").read_text() and "Version 2.0" in (folder / "LICENSE").read_text()
    notice = (folder / "NOTICE.md").read_text()
    for needed in ("Copyright 2017 Arda Mavi", "arXiv:2011.08927", "Changes made", "Lanczos"):
        assert needed in notice
    assert len((folder / "SOURCE_COMMIT").read_text().strip()) == 40


def test_manifest_lists_every_photo_once_and_where_it_went():
    rows = [line.split("\t") for line in (ru.DATASET_DIR / "MANIFEST.tsv").read_text().splitlines()[1:]]
    assert len(rows) == 2062 and len({r[0] for r in rows}) == 2062
    assert all(len(r[1]) == 64 for r in rows)
    signers = {name: _signers(name) for name in NAMES}
    for source, _, digit, signer, file, row in rows:
        name = file.split("_", 1)[1][:-3]
        split = 0 if file.startswith("train") else 1
        assert signers[name][split][int(row)] == int(signer), source
        assert (int(digit) < 6) == (name == "signs")


def _photos(digits):
    return [make_dataset.Photo(f"Dataset/{d}/IMG_{n}.JPG", n, d) for n, d in enumerate(digits)]


@pytest.mark.parametrize(
    "digits, groups",
    [
        (list(range(10)) * 2, [0] * 10 + [1] * 10),  # two clean signers
        (list(range(9)) + [8, 9] + list(range(10)), [0] * 11 + [1] * 10),  # a retake stays with its signer
        ([5] + [0, 1, 2, 3, 4, 6, 7, 8, 9] + list(range(10)), [0] * 10 + [1] * 10),  # a stray first photo
        ([0, 1, 2, 3] + [3, 4, 5, 6, 7, 8, 9] + [0, 1], [0] * 11 + [1] * 2),  # a run restarted mid-way
    ],
)
def test_signer_groups_merge_incomplete_runs_and_never_split_one(digits, groups):
    assert make_dataset.signer_groups(_photos(digits)) == groups


@pytest.mark.skipif(not (SOURCE / "Dataset").is_dir(), reason=f"the original photos are not at {SOURCE}")
def test_dataset_rebuilds_byte_for_byte_from_the_original_photos():
    assert make_dataset.differences(SOURCE) == []
    photos = make_dataset.list_photos(SOURCE)
    groups = make_dataset.signer_groups(photos)
    runs = {}
    for photo, g in zip(photos, groups):
        runs.setdefault(g, []).append(photo.digit)
    assert sum(run == list(range(10)) for run in runs.values()) >= 180  # most runs are one signer's 0..9
    manifest = (ru.DATASET_DIR / "MANIFEST.tsv").read_text()
    first = photos[0]
    assert hashlib.sha256((SOURCE / first.path).read_bytes()).hexdigest() in manifest


# ---------------------------------------------------------------- preparing a learner's own photo
def _marked(size=(90, 60)):
    """An RGB image with a red square in the top-left corner of its centred square."""
    img = np.full((size[1], size[0], 3), 200, np.uint8)
    top, left = (size[1] - min(size)) // 2, (size[0] - min(size)) // 2
    img[top : top + 10, left : left + 10] = (255, 0, 0)
    return Image.fromarray(img)


def test_prepare_photo_turns_a_rotated_jpeg_upright(tmp_path):
    upright = _marked((60, 90))  # what the camera saw: portrait, marker top-left
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # how a phone stores it: on its side, orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    arr, steps = ru.prepare_photo(tmp_path / "phone.jpg", size=30)
    assert arr.shape == (30, 30, 3) and arr.dtype == np.uint8
    assert any("EXIF orientation 6" in s for s in steps)
    square = np.asarray(upright)[15:75]  # the centred square of the upright photo
    reference = np.asarray(Image.fromarray(square).resize((30, 30), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(arr.astype(int) - reference).mean() < 6  # JPEG noise only
    assert arr[:4, :4, 0].mean() > 230 and arr[-4:, -4:, 0].mean() < 215  # the marker is top-left again


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "LA"])
def test_prepare_photo_accepts_transparency_grey_and_palettes(tmp_path, mode):
    img = _marked().convert(mode)
    img.save(tmp_path / "photo.png")
    arr, steps = ru.prepare_photo(tmp_path / "photo.png", size=16)
    assert arr.shape == (16, 16, 3) and arr.dtype == np.uint8
    assert any("cropped the centred 60x60 square" in s for s in steps)


def test_prepare_photo_puts_transparent_pixels_on_white(tmp_path):
    img = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    arr, steps = ru.prepare_photo(img, size=20)
    assert (arr == 255).all() and any("on white" in s for s in steps)


def test_training_photos_were_prepared_the_way_prepare_photo_prepares_a_photo():
    if not (SOURCE / "Dataset").is_dir():
        pytest.skip(f"the original photos are not at {SOURCE}")
    rows = [line.split("\t") for line in (ru.DATASET_DIR / "MANIFEST.tsv").read_text().splitlines()[1:]]
    source, _, _, _, file, row = next(r for r in rows if r[4] == "train_signs.h5")
    with h5py.File(ru.DATASET_DIR / file) as f:
        shipped = f["train_set_x"][int(row)]
    assert np.array_equal(ru.prepare_photo(SOURCE / source)[0], shipped)


def test_notebook_4_spells_out_the_course_augmentation():
    """Notebook 4 writes its augmentation layer by layer; the course checkpoint and the calibration use
    ``augmentation_layers()``: the two must be the same layers with the same settings."""
    import re

    import keras
    from keras import layers

    from tools.notebooks import SOURCE, read

    code = next(
        c.source
        for c in read(SOURCE / "04_resnet50" / "resnet50.ipynb").cells
        if c.cell_type == "code" and "augment = keras.Sequential(" in c.source
    )
    listing = re.search(r"augment = keras\.Sequential\((\[.*?\])", code, re.S).group(1)
    spelled = eval(listing, {"layers": layers, "keras": keras})  # noqa: S307 - our own notebook

    def config(layer):
        return type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"}

    assert [config(layer) for layer in spelled] == [config(layer) for layer in ru.augmentation_layers()]
