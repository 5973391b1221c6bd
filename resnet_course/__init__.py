"""The ResNet course's code: data, fast mode, plots, weights, checks of every exercise, and their registry.

Notebooks import the three top-level facades (``resnets_utils``, ``public_tests``,
``test_utils``); everything they name lives here, one module per job:

* ``paths`` (every file the course reads), ``config`` (every environment variable),
  ``keras_internals`` (every use of Keras's private API);
* ``fast``, ``data``, ``cifar``, ``standin``, ``plots``, ``weights``, ``pretrained``;
* ``harness``, ``graph``, ``expected``, ``guard``: what the checks are made of;
* ``checks/<notebook>.py``: the visible and hidden checks of one notebook;
* ``registry``: every exercise, its notebook, points, checks, fixtures and seeds;
* ``catalogue``: wrong (mutants), correct-but-different (variants) and adversarial submissions.
* ``grading``: each student's notebooks in a sandbox, the checks in a trusted judge outside it
  (``docs/grading.md``).

No module here imports a facade or ``tests/`` (``tests/test_package.py``).
"""
