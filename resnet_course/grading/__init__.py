"""Sandboxed, trusted, parallel grading (see docs/grading.md).

- ``sandbox``: runs one student's notebooks in bubblewrap with cgroup limits (host side).
- ``server``: what runs inside the sandbox: executes the notebooks, then calls the student's functions on request.
- ``codec``: the data-only format both sides exchange (JSON, ``.npy``/``.npz`` without pickle, models rebuilt from JSON in safe mode).
- ``judge``: the trusted side: the course's checks, with the student's function replaced by a proxy.
- ``grade_one``: the per-student command (a submission folder in, a results file out).
- ``inert``: makes a notebook inert before it is stored or shown (no HTML, script or metadata that could run).
- ``host``: the nbgrader preprocessor that writes the results into the autograded notebooks, and the parallel driver.
"""
