"""Every file and folder the course reads, found from this package's own location.

In a checkout the package sits at the repository's root; installed from a wheel it sits in
``site-packages`` and carries its data (``datasets/``, ``fixtures/``) inside itself. ``ROOT``
is the checkout (``None`` when installed): only maintainers' tools need it.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _checkout() -> Path | None:
    root = PACKAGE.parent
    return root if (root / "source").is_dir() and (root / "pyproject.toml").is_file() else None


ROOT = _checkout()


def _data(name: str) -> Path:
    """``name`` inside the package (a wheel, or a checkout whose data moved there), else beside the package."""
    inside = PACKAGE / name
    return inside if inside.is_dir() or ROOT is None else PACKAGE.parent / name


DATASET_DIR = _data("datasets")
FIXTURES_DIR = _data("fixtures")
FIXTURES = FIXTURES_DIR / "core_exercises.npz"             # identity_block, convolutional_block, ResNet50
RESIDUAL_FIXTURES = FIXTURES_DIR / "residual_learning.npz"  # the residual-learning notebook
