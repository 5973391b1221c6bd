"""The checks of the course's exercises: one module per notebook, each declaring its ``EXERCISES``.

``SHARED`` modules hold what several notebooks' checks use (imported explicitly by them);
they declare no exercise.
"""

SHARED = ("common", "blocks")
