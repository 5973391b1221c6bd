"""Notebook 2: identity_block."""

from __future__ import annotations

from ..exercise import Exercise, Fixtures
from ..expected import fresh_seed
from ..harness import guarded
from ..paths import FIXTURES
from .blocks import block_test, hidden_block_test, make_block_fixtures

# Fixed configurations; the fixtures hold the reference outputs for each.
# (input shape without the batch axis, f, filters)
IDENTITY_CONFIGS = [((5, 5, 6), 3, [2, 4, 6]), ((4, 4, 3), 2, [4, 2, 3])]


def identity_block_test(target):
    """Check ``identity_block(X, f, filters, initializer)``."""
    __tracebackhide__ = True
    with guarded("identity_block"):
        block_test("identity_block", target, True, IDENTITY_CONFIGS)


def identity_block_hidden_test(target, seed=None):
    """Re-check ``identity_block`` on a fresh random configuration against Keras's block."""
    __tracebackhide__ = True
    seed = fresh_seed(seed)
    with guarded("identity_block"):
        hidden_block_test("identity_block", target, True, seed)


EXERCISES = (
    Exercise("identity_block", "02_identity_block", 10, identity_block_test, identity_block_hidden_test,
             Fixtures(FIXTURES.name, make_block_fixtures, tuple(IDENTITY_CONFIGS), seed=100)),
)
