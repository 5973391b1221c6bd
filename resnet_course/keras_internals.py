"""Every use of Keras's private API, so that a Keras upgrade touches this file only.

The course reads the functional graph (``_keras_history``, ``_inbound_nodes``), builds
reference blocks with ``keras.applications``' own code (``keras.src.applications.resnet``),
records the models Keras's ResNet builder makes, finds the folder ``KERAS_HOME``
points to, and creates variables at zero where their values are about to be replaced.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


def producer(tensor):
    """The ``(operation, node)`` that produced a symbolic Keras tensor, or ``None`` for a model input."""
    history = getattr(tensor, "_keras_history", None)
    if history is None or history.operation is None:
        return None
    op = history.operation
    if type(op).__name__ == "InputLayer":
        return None
    return op, op._inbound_nodes[history.node_index]


def walk_nodes(outputs, branch_key=None):
    """All ``(operation, node)`` pairs reachable from ``outputs``, inputs before users (topological order).

    Args:
        outputs: symbolic tensors, e.g. ``model.outputs``.
        branch_key: optional function of a tensor; where a node has several inputs,
            they are walked in descending order of this key (stable: ties keep the
            node's input order). By default, in the node's input order.
    """
    order, seen = [], set()

    def visit(tensor) -> None:
        prod = producer(tensor)
        if prod is None or id(prod[1]) in seen:
            return
        seen.add(id(prod[1]))
        inputs = list(prod[1].input_tensors)
        for t in sorted(inputs, key=branch_key, reverse=True) if branch_key else inputs:
            visit(t)
        order.append(prod)

    for out in outputs:
        visit(out)
    return order


def graph_depth(tensor, cache: dict) -> int:
    """The number of operations on the longest path from a model input to ``tensor`` (``cache``: by node)."""
    prod = producer(tensor)
    if prod is None:
        return 0
    key = id(prod[1])
    if key not in cache:
        cache[key] = 1 + max((graph_depth(t, cache) for t in prod[1].input_tensors), default=0)
    return cache[key]


def residual_block_v1(*args, **kwargs):
    """``keras.applications``' ResNet (V1) bottleneck block."""
    from keras.src.applications.resnet import residual_block_v1 as block

    return block(*args, **kwargs)


def residual_block_v2(*args, **kwargs):
    """``keras.applications``' ResNet V2 (pre-activation) block."""
    from keras.src.applications.resnet import residual_block_v2 as block

    return block(*args, **kwargs)


_RECORDINGS: list = []  # the lists of the recordings open now (report_keras_resnets adds to them)


@contextmanager
def recording_keras_resnets():
    """Record every model that Keras's own ResNet builder makes (``keras.applications.ResNet50``
    and its siblings all call ``keras.src.applications.resnet.ResNet``) inside the ``with``, and
    every run that ``report_keras_resnets`` reports meanwhile (the sandbox's, seen by the judge)."""
    from keras.src.applications import resnet

    built, original = [], resnet.ResNet

    def recording(*args, **kwargs):
        model = original(*args, **kwargs)
        built.append(model.name)
        return model

    resnet.ResNet = recording
    _RECORDINGS.append(built)
    try:
        yield built
    finally:
        resnet.ResNet = original
        _RECORDINGS[:] = [b for b in _RECORDINGS if b is not built]


def report_keras_resnets(names) -> None:
    """Add the names of models Keras's ResNet builder made elsewhere (in the sandbox) to the open recordings."""
    for built in _RECORDINGS:
        built.extend(names)


def keras_home() -> Path:
    """The folder ``KERAS_HOME`` points to (``~/.keras`` by default), as ``keras.utils.get_file`` uses it."""
    from keras.src.backend import config as keras_config

    return Path(keras_config.keras_home())


@contextmanager
def zero_initialised():
    """Variables created inside start at zero instead of drawing from their initializers.

    For a model rebuilt from its configuration whose weights are set right after (or copied in from
    a reference): a ResNet-50's 23 million random draws are about a third of its rebuilding. The
    layers' configurations keep their initializers; a seed generator's state keeps its own value.
    Not thread-safe: no other thread may create variables meanwhile.
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import core

    original = core.Variable._initialize_with_initializer

    def zeros(self, initializer):
        if "seed_generator" in str(getattr(self, "name", "")):
            return original(self, initializer)
        self._initialize(lambda: tf.zeros(self._shape, dtype=self._dtype))

    core.Variable._initialize_with_initializer = zeros
    try:
        yield
    finally:
        core.Variable._initialize_with_initializer = original


@contextmanager
def safe_mode():
    """Keras's safe deserialization (no code from the serialized data runs), as ``load_model(safe_mode=True)`` uses."""
    from keras.src.saving.serialization_lib import SafeModeScope

    with SafeModeScope(True):
        yield


def compiled_training(model, layers: list) -> dict:
    """What ``compile`` recorded: each layer's trainable flag at the last compile, and whether ``fit`` built a step.

    (The checks ask whether a model was compiled again after its flags changed; a model that crosses to the judge is
    compiled there afresh, so this travels with it and ``restore_compiled_training`` puts it back.)"""
    recorded = getattr(model, "_compiled_trainable_state", None)
    return {
        "flags": None if recorded is None else [bool(recorded.get(layer, layer.trainable)) for layer in layers],
        "step": getattr(model, "train_function", None) is not None,
    }


def _step_built_elsewhere(*args, **kwargs):
    raise RuntimeError("this training step was built in the student's sandbox; it does not run in the judge")


def restore_compiled_training(model, layers: list, recorded: dict) -> None:
    flags = recorded.get("flags")
    if isinstance(flags, list) and len(flags) == len(layers):
        model._compiled_trainable_state = {layer: bool(flag) for layer, flag in zip(layers, flags)}
    if recorded.get("step") is True and getattr(model, "compiled", False):
        model.train_function = _step_built_elsewhere
