"""Every file and folder the course reads, found from this package's own location.

The data the notebooks read at run time (``datasets/``, ``fixtures/``) lives inside the
package, so a checkout, an editable install and a wheel installed anywhere find it alike. A checkout's
top-level ``datasets/`` is a link to the package's, so ``datasets/train_signs.h5`` opens there too.
``ROOT`` is the checkout (``None`` when installed): only maintainers' tools need it.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _checkout() -> Path | None:
    root = PACKAGE.parent
    return root if (root / "source").is_dir() and (root / "pyproject.toml").is_file() else None


ROOT = _checkout()
DATASET_DIR = PACKAGE / "datasets"
FIXTURES_DIR = PACKAGE / "fixtures"
FIXTURES = FIXTURES_DIR / "core_exercises.npz"  # identity_block, convolutional_block, ResNet50
RESIDUAL_FIXTURES = FIXTURES_DIR / "residual_learning.npz"  # the residual-learning notebook
