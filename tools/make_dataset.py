"""Build the course's datasets from the original Sign Language Digits photos.

The source is the public repository ardamavi/Sign-Language-Digits-Dataset
(Apache-2.0; 2,062 RGB photos of hands signing the digits 0 to 9, about 206 per
digit, by 218 students, ``Dataset/<digit>/IMG_<n>.JPG``). This script turns any
copy of it into ``resnet_course/datasets/``:

* ``train_signs.h5`` / ``test_signs.h5``: digits 0 to 5 in the classic SIGNS key
  layout (``train_set_x`` uint8 (m, 64, 64, 3), ``train_set_y``, ``test_set_x``,
  ``test_set_y``, ``list_classes``), plus ``*_set_signer`` (a signer id per photo).
  The test split is ``TEST_SIGNERS`` whole signers, one photo of each digit each.
* ``train_signs6to9.h5`` / ``test_signs6to9.h5``: digits 6 to 9, the
  transfer-learning target task: ``FEWSHOT_PER_CLASS`` training photos per class
  (one per digit from each of that many signers), every other signer's photos for
  testing. Labels 0 to 3 stand for the digits in ``list_classes``.
* ``MANIFEST.tsv`` (every source file, its SHA-256, signer, and where it went),
  ``SOURCE_COMMIT``, ``LICENSE`` (the Apache-2.0 text) and ``NOTICE.md``.

**Preparation.** Each photo goes through ``resnets_utils.prepare_photo``, the same
function ``predict_image`` uses on a learner's own photo: turned upright by its
EXIF orientation (three photos are 3024x3024 with orientation 6), converted to
RGB, cropped to the centred square (the photos are square already), and resized
to 64x64 with Pillow's Lanczos filter.

**Signers.** The file numbers are camera numbers, not documented signer ids, but
they run consecutively per signer: sorted by number, the digits go 0, 1, ..., 9
and start again (190 of the runs are exactly the ten digits). The rest are retakes
and out-of-order shots. ``signer_groups`` starts a new group only where the digit
sequence restarts *and* the current group already holds all ten digits, so an
incomplete run is merged with its neighbour. Merging can only put two signers in
one group, never split one signer over two, so a split by group is signer-disjoint.

Usage (from the repository root)::

    python -m tools.make_dataset --source ../shared/datasets/sign-language-digits
    python -m tools.make_dataset --check     # rebuild in memory, compare byte for byte
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from resnets_utils import IMAGE_SIZE, RESAMPLE, prepare_photo

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "datasets" / "sign-language-digits"
OUT = ROOT / "resnet_course" / "datasets"  # inside the package: wheels carry it
SOURCE_REPO = "https://github.com/ardamavi/Sign-Language-Digits-Dataset"
COUNTS = tuple(range(6))  # digits of the finger-counting task
TARGET = (6, 7, 8, 9)  # digits of the transfer-learning target task
TEST_SIGNERS = 30  # signer groups whose photos of 0-5 form the test split
FEWSHOT_PER_CLASS = 15  # training photos per class of the 6-9 task
SPLIT_SEED = 20151210  # He et al. posted "Deep Residual Learning" on 2015-12-10
_NAME = re.compile(r"IMG_(\d+)\.JPG")


@dataclass(frozen=True)
class Photo:
    path: str  # relative to the source folder, e.g. "Dataset/3/IMG_1121.JPG"
    number: int  # the camera number in the file name
    digit: int


def list_photos(source: Path) -> list[Photo]:
    """Every ``Dataset/<digit>/IMG_<n>.JPG`` of the source folder, sorted by camera number."""
    photos = []
    for digit in range(10):
        folder = source / "Dataset" / str(digit)
        if not folder.is_dir():
            raise SystemExit(f"{folder} not found: --source must be a copy of {SOURCE_REPO}")
        for file in folder.iterdir():
            match = _NAME.fullmatch(file.name)
            if not match:
                raise SystemExit(f"unexpected file {file}: the source should hold only IMG_<n>.JPG photos")
            photos.append(Photo(f"Dataset/{digit}/{file.name}", int(match.group(1)), digit))
    return sorted(photos, key=lambda p: p.number)


def signer_groups(photos: list[Photo]) -> list[int]:
    """A group id per photo (photos sorted by number): a new group starts only where the digit
    sequence restarts and the current group already holds all ten digits."""
    ids, current, seen, previous = [], 0, set(), None
    for photo in photos:
        if previous is not None and photo.digit <= previous and len(seen) == 10:
            current, seen = current + 1, set()
        ids.append(current)
        seen.add(photo.digit)
        previous = photo.digit
    return ids


def assign(photos: list[Photo], groups: list[int]) -> dict[str, list[int]]:
    """Indices (into ``photos``) of each output split; signer-disjoint by construction."""
    rng = np.random.default_rng(SPLIT_SEED)
    by_group: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)

    def one_of_each(group, digits):
        got = sorted(photos[i].digit for i in by_group[group] if photos[i].digit in digits)
        return got == sorted(digits)

    ids = sorted(by_group)
    test_groups = set(rng.choice([g for g in ids if one_of_each(g, COUNTS)], TEST_SIGNERS, replace=False).tolist())
    fewshot = [g for g in ids if g not in test_groups and one_of_each(g, TARGET)]
    fewshot_groups = set(rng.choice(fewshot, FEWSHOT_PER_CLASS, replace=False).tolist())
    splits = {"train_signs": [], "test_signs": [], "train_signs6to9": [], "test_signs6to9": []}
    for i, photo in enumerate(photos):
        g = groups[i]
        if photo.digit in COUNTS:
            splits["test_signs" if g in test_groups else "train_signs"].append(i)
        else:
            splits["train_signs6to9" if g in fewshot_groups else "test_signs6to9"].append(i)
    for name in splits:  # a fixed shuffle, so that any prefix mixes the classes
        splits[name] = [splits[name][j] for j in rng.permutation(len(splits[name]))]
    return splits


def read_source(source: Path):
    """``(photos, groups, sha256 per photo, prepared images)`` of a source folder."""
    photos = list_photos(source)
    digests, images = [], []
    for photo in photos:
        data = (source / photo.path).read_bytes()
        digests.append(hashlib.sha256(data).hexdigest())
        images.append(prepare_photo(io.BytesIO(data))[0])
    return photos, signer_groups(photos), digests, np.stack(images)


def write_h5(path: Path, prefix: str, X, y, signers, classes) -> None:
    """The classic SIGNS key layout, plus ``{prefix}_signer``; no timestamps, so rebuilds are byte-identical."""
    with h5py.File(path, "w", track_order=False) as f:
        f.create_dataset(
            f"{prefix}_x",
            data=X,
            compression="gzip",
            compression_opts=6,
            chunks=(min(60, len(X)), IMAGE_SIZE, IMAGE_SIZE, 3),
            track_times=False,
        )
        f.create_dataset(f"{prefix}_y", data=np.asarray(y, dtype=np.int64), track_times=False)
        f.create_dataset(f"{prefix}_signer", data=np.asarray(signers, dtype=np.int64), track_times=False)
        f.create_dataset("list_classes", data=np.asarray(classes, dtype=np.int64), track_times=False)


NOTICE = """# Sign Language Digits: the course's copy

The photos in this folder's `.h5` files come from the **Sign Language Digits Dataset**,
Copyright 2017 Arda Mavi, prepared by students of Ayrancı Anadolu High School (Ankara), licensed under
the Apache License, Version 2.0 (the full text is in `LICENSE` beside this file).
Source: {repo}, commit `{commit}`.

Please cite the authors as they ask: Mavi, A. (2020), "A New Dataset and Proposed Convolutional Neural
Network Architecture for Classification of American Sign Language Digits", arXiv:2011.08927 [cs.CV].

## Changes made by the course (`python -m tools.make_dataset`)
- Each photo was turned upright by its EXIF orientation, converted to RGB, cropped to its centred square
  and resized from 100x100 (three photos: 3024x3024) to {size}x{size} pixels with Pillow's {resample} filter.
- The photos were grouped by signer (consecutive camera numbers; see the script's docstring) and split
  so that no signer has photos on both sides of a split.
- Digits 0-5: `train_signs.h5` ({n_train} photos) and `test_signs.h5` ({n_test} photos: {test_signers}
  signers, one photo of each digit each).
- Digits 6-9: `train_signs6to9.h5` ({n_few} photos: {few} signers, one of each digit each) and
  `test_signs6to9.h5` ({n_few_test} photos of every other signer); labels 0-3 stand for the digits 6-9.
- Stored as HDF5 in the key layout of the SIGNS dataset, with a signer id per photo (`*_set_signer`).

`MANIFEST.tsv` lists every source file with its SHA-256, its signer group and where it went.
"""


def build(source: Path, out: Path) -> dict[str, int]:
    """Write every output file into ``out``; returns the number of photos per split."""
    photos, groups, digests, images = read_source(source)
    splits = assign(photos, groups)
    out.mkdir(parents=True, exist_ok=True)
    place = {}
    for name, index in splits.items():
        digits = COUNTS if name.endswith("signs") else TARGET
        y = [digits.index(photos[i].digit) for i in index]
        prefix = name.split("_")[0] + "_set"
        write_h5(out / f"{name}.h5", prefix, images[index], y, [groups[i] for i in index], digits)
        place.update({i: (f"{name}.h5", row) for row, i in enumerate(index)})
    lines = ["source\tsha256\tdigit\tsigner\tfile\trow"]
    lines += [
        f"{p.path}\t{digests[i]}\t{p.digit}\t{groups[i]}\t{place[i][0]}\t{place[i][1]}" for i, p in enumerate(photos)
    ]
    (out / "MANIFEST.tsv").write_text("\n".join(lines) + "\n")
    commit_file = source / "SOURCE_COMMIT"
    commit = commit_file.read_text().split()[0] if commit_file.is_file() else "unknown"
    (out / "SOURCE_COMMIT").write_text(commit + "\n")
    (out / "LICENSE").write_bytes((source / "LICENSE").read_bytes())
    counts = {name: len(index) for name, index in splits.items()}
    (out / "NOTICE.md").write_text(
        NOTICE.format(
            repo=SOURCE_REPO,
            commit=commit,
            size=IMAGE_SIZE,
            resample=RESAMPLE.title(),
            n_train=counts["train_signs"],
            n_test=counts["test_signs"],
            test_signers=TEST_SIGNERS,
            n_few=counts["train_signs6to9"],
            few=FEWSHOT_PER_CLASS,
            n_few_test=counts["test_signs6to9"],
        )
    )
    return counts


OUTPUTS = (
    "train_signs.h5",
    "test_signs.h5",
    "train_signs6to9.h5",
    "test_signs6to9.h5",
    "MANIFEST.tsv",
    "SOURCE_COMMIT",
    "LICENSE",
    "NOTICE.md",
)


def differences(source: Path, shipped: Path = OUT) -> list[str]:
    """Names of the shipped files that a fresh build from ``source`` does not reproduce byte for byte."""
    with tempfile.TemporaryDirectory() as tmp:
        build(source, Path(tmp))
        return [
            name
            for name in OUTPUTS
            if not (shipped / name).is_file() or (shipped / name).read_bytes() != (Path(tmp) / name).read_bytes()
        ]


def write_sample_grid(X, y, path: Path, per_class: int = 8) -> None:
    """One row per class, ``per_class`` photos each, at the size the network sees them, 2 px apart."""
    from PIL import Image

    classes = sorted(set(np.asarray(y).tolist()))
    step = IMAGE_SIZE + 2
    grid = np.full((step * len(classes) - 2, step * per_class - 2, 3), 255, dtype=np.uint8)
    for r, c in enumerate(classes):
        for k, img in enumerate(X[np.asarray(y) == c][:per_class]):
            grid[r * step : r * step + IMAGE_SIZE, k * step : k * step + IMAGE_SIZE] = img
    Image.fromarray(grid).save(path, optimize=True)


def write_sample_grids(out: Path = OUT, images: Path = ROOT / "images") -> None:
    import resnets_utils

    X, y, *_ = resnets_utils.load_dataset(out)
    write_sample_grid(X, y.ravel(), images / "dataset_samples.png")
    X, y, *_ = resnets_utils.load_dataset(out, name=resnets_utils.SIGNS_6TO9)
    write_sample_grid(X, y.ravel(), images / "signs6to9_samples.png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, default=DEFAULT_SOURCE, help=f"a copy of {SOURCE_REPO} (default: {DEFAULT_SOURCE})"
    )
    parser.add_argument(
        "--check", action="store_true", help="rebuild in memory and compare with resnet_course/datasets/ byte for byte"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="output folder")
    args = parser.parse_args(argv)
    if not (args.source / "Dataset").is_dir():
        print(f"No source photos at {args.source}: pass --source with a copy of {SOURCE_REPO}.")
        return 2
    if args.check:
        diff = differences(args.source, args.out)
        print(
            f"{args.out} differs from a fresh build in: {', '.join(diff)}"
            if diff
            else f"{args.out} matches a fresh build from {args.source}"
        )
        return 1 if diff else 0
    for name, n in build(args.source, args.out).items():
        print(f"wrote {args.out / (name + '.h5')}: {n} photos")
    write_sample_grids(args.out)
    print("wrote images/dataset_samples.png and images/signs6to9_samples.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
