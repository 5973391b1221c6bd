"""Submissions the checks must judge right: ``mutants`` (wrong implementations and correct variants of each
exercise) and ``adversarial`` (what a class really hands in to the nbgrader round trip).

Both edit the reference solutions read from the source notebooks (``tools.notebooks``), so they are
used from a checkout: by ``tools.mutation_score``, ``tests/test_catalogue.py`` and the round trip.
"""
