"""Reading a learner's layer graph: kinds of operations, chains, fused activations."""

from __future__ import annotations

from .keras_internals import producer


# --------------------------------------------------------------------------- graph inspection
def kind(op) -> str:
    """Normalise an operation to a short kind: conv, bn, relu, add, pad, maxpool, gap, dense, ..."""
    import keras

    L = keras.layers
    if isinstance(op, L.ReLU):
        plain = op.max_value is None and not float(op.negative_slope) and not float(op.threshold)
        return "relu" if plain else "relu-variant"
    if isinstance(op, L.Activation):
        name = getattr(op.activation, "__name__", str(op.activation))
        return {"relu": "relu", "softmax": "softmax", "linear": "identity"}.get(name, f"activation:{name}")
    layer_kinds = [
        (L.Conv2D, "conv"),
        (L.BatchNormalization, "bn"),
        (L.Add, "add"),
        (L.Softmax, "softmax"),
        (L.ZeroPadding2D, "pad"),
        (L.MaxPooling2D, "maxpool"),
        (L.AveragePooling2D, "avgpool"),
        (L.GlobalAveragePooling2D, "gap"),
        (L.GlobalMaxPooling2D, "gmp"),
        (L.Flatten, "flatten"),
        (L.Dense, "dense"),
    ]
    for cls, name in layer_kinds:
        if isinstance(op, cls):
            return name
    # Operations made by `x + y`, keras.ops.add, keras.ops.relu, keras.ops.softmax.
    return {"Add": "add", "Relu": "relu", "Softmax": "softmax"}.get(type(op).__name__, type(op).__name__)


KIND_NAMES = {
    "conv": "Conv2D",
    "bn": "BatchNormalization",
    "relu": "ReLU",
    "add": "Add",
    "pad": "ZeroPadding2D",
    "maxpool": "MaxPooling2D",
    "avgpool": "AveragePooling2D",
    "gap": "GlobalAveragePooling2D",
    "gmp": "GlobalMaxPooling2D",
    "flatten": "Flatten",
    "dense": "Dense",
    "softmax": "Softmax",
}


def chain_text(kinds) -> str:
    """A chain of kinds as Keras names: 'Conv2D -> BatchNormalization -> ReLU'."""
    return " -> ".join(KIND_NAMES.get(k, k) for k in kinds) or "(no layers)"


def fused_activation(op) -> str | None:
    """The activation fused into a Conv2D/Dense (``activation=...``), or ``None`` if linear."""
    fn = getattr(op, "activation", None)
    name = getattr(fn, "__name__", None)
    return None if name in (None, "linear") else name


def activation_after(layers, i) -> str | None:
    """The activation applied to the output of ``layers[i]`` (a Dense or Conv2D): fused into it
    (``activation="relu"``) or, when it is linear, the ReLU, ``Activation`` or ``Softmax`` layer that follows it in
    ``layers`` (in graph order). ``Dense(8)`` then ``Activation("relu")`` is the same function as
    ``Dense(8, activation="relu")``."""
    fused = fused_activation(layers[i])
    if fused is not None or i + 1 >= len(layers):
        return fused
    following = kind(layers[i + 1])
    return following if following in ("relu", "softmax") else None


def chain_back(tensor, stop):
    """Follow single-input operations back from ``tensor`` until the tensor ``stop``.

    Returns ``(ops, reached)``: the operations in forward order and whether
    ``stop`` was reached through single-input operations only.
    """
    ops = []
    while tensor is not stop:
        prod = producer(tensor)
        if prod is None:
            return list(reversed(ops)), False
        op, node = prod
        ops.append(op)
        if len(node.input_tensors) != 1:
            return list(reversed(ops)), False
        tensor = node.input_tensors[0]
    return list(reversed(ops)), True


def kinds_with_fused(ops) -> list[str]:
    """Kinds of a chain, with a fused activation (``Conv2D(activation='relu')``) shown as its own step."""
    out = []
    for op in ops:
        out.append(kind(op))
        act = fused_activation(op) if kind(op) in ("conv", "dense") else None
        if act:
            out.append(f"{act} (fused into the {type(op).__name__})")
    return out
