"""The data the judge and the sandbox exchange: JSON, ``.npy``/``.npz`` files without pickle, models rebuilt in safe mode.

``encode(value, blobs)`` turns a value into JSON-able data, putting arrays and models into ``blobs`` (the
binary parts of the message it travels in, ``wire.Blobs``: nothing touches a disk); ``decode(data, blobs)`` turns
it back. Nothing here ever unpickles: arrays are loaded with
``allow_pickle=False`` and models from their JSON configuration in safe mode on the judge's side, so a class or a
``Lambda`` written in the notebook is refused there (``Refused``), not run.

Kinds: ``py`` (None, bool, int, float, str), ``tuple``/``list``/``dict`` (str keys), ``array`` (an
ndarray; a masked array or another subclass keeps its kind so the checks can refuse it), ``scalar``
(a NumPy scalar), ``tensor`` (an eager tensor, sent as its values), ``spec`` (a symbolic Keras input,
sent as shape and dtype), ``graph`` (a symbolic result: the sub-model from the spec inputs to it),
``model`` (a Keras model: configuration JSON, weights ``.npz``, compile settings), ``state`` (what a call
changed in a model it was given: trainable flags, the weights of the layers whose weights changed, the
compile settings and what compile recorded), ``initializer`` (a Keras initializer class or instance),
``other`` (anything else: only its type's name travels).
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from resnet_course.grading.wire import Blobs, WireError

COURSE_INITIALIZER = "ShapeSeededInitializer"  # test_utils.deterministic_initializer's class


class Refused(Exception):
    """What the other side sent cannot be decoded safely (a class written in the notebook, a pickle, ...)."""


def _keras():
    import keras

    return keras


def _npy(blobs: Blobs, array) -> str:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return blobs.put(".npy", out.getvalue())


def _is_keras_tensor(value) -> bool:
    try:
        return _keras().KerasTensor is not None and isinstance(value, _keras().KerasTensor)
    except Exception:  # noqa: BLE001
        return False


def encode(value, blobs: Blobs, inputs: list | None = None, weights: bool = True):
    """``value`` as JSON-able data; its binary parts go to ``blobs``. ``inputs``: the spec inputs a symbolic
    result hangs on. ``weights=False``: a model goes as its architecture only (the judge asked for no more)."""
    if value is None or isinstance(value, (bool, int, float, str)) and type(value) in (bool, int, float, str):
        return {"t": "py", "v": value}
    if isinstance(value, (tuple, list)) and type(value) in (tuple, list):
        return {"t": type(value).__name__, "v": [encode(v, blobs, inputs, weights) for v in value]}
    if type(value) is dict and all(isinstance(k, str) for k in value):
        return {"t": "dict", "v": {k: encode(v, blobs, inputs, weights) for k, v in value.items()}}
    if isinstance(value, np.ndarray):
        sub = (
            None
            if type(value) is np.ndarray
            else ("masked" if isinstance(value, np.ma.MaskedArray) else type(value).__name__)
        )
        out = {"t": "array", "f": _npy(blobs, np.asarray(value).view(np.ndarray)), "sub": sub}
        if sub == "masked":
            out["mask"] = _npy(blobs, np.ma.getmaskarray(value))
        return out
    if isinstance(value, np.generic):
        return {"t": "scalar", "f": _npy(blobs, np.asarray(value))}
    keras = _keras()
    if isinstance(value, type) and issubclass(value, keras.initializers.Initializer):
        return {"t": "initializer", "class": value.__name__, "instance": False}
    if isinstance(value, keras.initializers.Initializer):
        if type(value).__name__ == COURSE_INITIALIZER:
            return {
                "t": "initializer",
                "class": COURSE_INITIALIZER,
                "instance": True,
                "config": {"seed": getattr(value, "seed", None)},
            }
        return {
            "t": "initializer",
            "class": type(value).__name__,
            "instance": True,
            "config": keras.initializers.serialize(value),
        }
    if _is_keras_tensor(value):
        if inputs is None:
            return {"t": "spec", "shape": list(value.shape[1:]), "dtype": str(value.dtype), "name": value.name}
        return _encode_graph(value, blobs, inputs)
    if isinstance(value, keras.Model):
        return dict(_save_model(value, blobs, weights), t="model")
    if (
        type(value).__name__ in ("EagerTensor", "Tensor", "ResourceVariable", "Variable")
        or hasattr(value, "numpy")
        and hasattr(value, "shape")
        and hasattr(value, "dtype")
    ):
        return {"t": "tensor", "f": _npy(blobs, np.asarray(keras.ops.convert_to_numpy(value)))}
    return {"t": "other", "type": f"{type(value).__module__}.{type(value).__qualname__}"[:200]}


def _encode_graph(value, blobs: Blobs, inputs: list):
    keras = _keras()
    used = [i for i, inp in enumerate(inputs) if inp is not None]
    model = keras.Model([inputs[i] for i in used], value)
    return dict(_save_model(model, blobs), t="graph", inputs=used)


def _save_model(model, blobs: Blobs, weights: bool = True) -> dict:
    """A model as two blobs and plain data: its configuration (JSON), its weights (``.npz``, no pickle; none
    with ``weights=False``), its compile settings (when compiled). What ``model.save`` writes, in about a third
    of the time both ways."""
    keras = _keras()
    config = blobs.put(".json", json.dumps(keras.saving.serialize_keras_object(model)).encode())
    if not weights:
        return {"config": config, "weights": None, "compile": _compile_settings(model)}
    out = io.BytesIO()
    np.savez(out, *[np.asarray(w) for w in model.get_weights()])
    return {"config": config, "weights": blobs.put(".npz", out.getvalue()), "compile": _compile_settings(model)}


def _compile_settings(model):
    """The model's compile settings as plain JSON data, or None when it is not compiled."""
    compiled = getattr(model, "compiled", False) and model.get_compile_config()
    return json.loads(json.dumps(compiled)) if compiled else None


def _compile(model, settings: dict, safe: bool) -> None:
    """Compile ``model`` with ``settings`` (from ``_compile_settings``), in safe mode on the judge's side."""
    import contextlib

    from resnet_course.keras_internals import safe_mode

    try:
        with safe_mode() if safe else contextlib.nullcontext():
            model.compile_from_config(dict(settings))
    except Exception as exc:  # noqa: BLE001 - what cannot be rebuilt safely is refused
        raise Refused(f"the model's compile settings could not be read safely ({str(exc)[:200]})") from None


def model_layers(model) -> list:
    """The model and every layer in it, in Keras's order (the order ``state`` data refers to)."""
    return list(model._flatten_layers(include_self=True, recursive=True))


def snapshot(model) -> list:
    """Copies of each layer's weights, so that ``encode_state`` can tell which ones a call changed."""
    return [[np.array(w) for w in layer.get_weights()] for layer in model_layers(model)]


def encode_state(model, before: list, blobs: Blobs) -> dict:
    """What a call did to ``model`` (a model passed to it) since ``before``: far less than the whole model."""
    layers, weights = model_layers(model), {}
    for i, layer in enumerate(layers):
        if i == 0 or getattr(layer, "layers", None):
            continue  # a model's weights are its layers' weights
        now = layer.get_weights()
        old = before[i] if i < len(before) else []
        if len(now) == len(old) and all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(now, old)):
            continue
        weights[str(i)] = [_npy(blobs, np.asarray(w)) for w in now]
    from resnet_course.keras_internals import compiled_training

    compiled = _compile_settings(model)
    return {
        "t": "state",
        "trainable": [bool(layer.trainable) for layer in layers],
        "weights": weights,
        "compile": compiled,
        "compiled_training": compiled_training(model, layers) if compiled else None,
    }


def apply_state(model, data, blobs: Blobs) -> None:
    """Give ``model`` (the judge's) the changes ``data`` (from ``encode_state``) describes; ``Refused`` if unsafe."""
    from resnet_course.keras_internals import restore_compiled_training

    if not isinstance(data, dict) or data.get("t") != "state":
        raise Refused("not the state of a model")
    layers, trainable = model_layers(model), data.get("trainable")
    if not isinstance(trainable, list) or len(trainable) != len(layers):
        raise Refused("the model passed to your function changed its layers")
    for layer, flag in zip(layers, trainable):
        layer.trainable = bool(flag)
    for key, names in dict(data.get("weights") or {}).items():
        i = int(key)
        if not 0 < i < len(layers) or not isinstance(names, list):
            raise Refused("weights for a layer the model does not have")
        try:
            layers[i].set_weights([_load_array(blobs, name) for name in names])
        except ValueError as exc:
            raise Refused(f"the weights of {layers[i].name} changed shape ({str(exc)[:200]})") from None
    if data.get("compile"):
        _compile(model, data["compile"], safe=True)
        if isinstance(data.get("compiled_training"), dict):
            restore_compiled_training(model, layers, data["compiled_training"])


# --------------------------------------------------------------------------- decoding
def _blob(blobs: Blobs, name) -> bytes:
    try:
        return blobs.get(name)
    except WireError as exc:
        raise Refused(str(exc)) from None


def _load_array(blobs: Blobs, name) -> np.ndarray:
    try:
        return np.load(io.BytesIO(_blob(blobs, name)), allow_pickle=False)
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 - not an .npy file (or a pickled one): refused
        raise Refused(f"an array that cannot be read without pickle ({type(exc).__name__})") from None


def _load_arrays(blobs: Blobs, name) -> list:
    """The arrays of an ``.npz`` blob, refused before decompressing when they would be larger than the blob cap."""
    data = _blob(blobs, name)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > WEIGHTS_CAP:
                raise Refused("weights larger than the grader accepts")
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            return [stored[f"arr_{i}"] for i in range(len(stored.files))]
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001
        raise Refused(f"weights that cannot be read without pickle ({type(exc).__name__})") from None


WEIGHTS_CAP = 1 << 30  # the uncompressed arrays of one model


def _subclass(name: str):
    """A stand-in ndarray subclass with the learner's class name, so the checks can name and refuse it."""
    return type(str(name)[:60] or "ndarray_subclass", (np.ndarray,), {})


def decode(data, blobs: Blobs, inputs: list | None = None, safe: bool = True, architecture: bool = False):
    """The value ``data`` describes. ``inputs``: the caller's symbolic inputs (a graph result is re-wired onto them).

    ``safe`` (the judge): models load in safe mode and an unknown kind is refused. ``architecture``: the caller
    asked for models without their weights; they come with zeros (what a check copies in replaces them). A model
    without weights is refused otherwise.
    """
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        raise Refused(f"not an encoded value: {str(data)[:80]}")
    kind = data["t"]
    if kind == "py":
        value = data.get("v")
        if value is not None and type(value) not in (bool, int, float, str):
            raise Refused("a plain value of another type")
        return value
    if kind in ("tuple", "list"):
        values = [decode(v, blobs, inputs, safe, architecture) for v in data.get("v", [])]
        return tuple(values) if kind == "tuple" else values
    if kind == "dict":
        return {str(k): decode(v, blobs, inputs, safe, architecture) for k, v in dict(data.get("v", {})).items()}
    if kind == "array":
        array = _load_array(blobs, data.get("f"))
        sub = data.get("sub")
        if sub == "masked":
            return np.ma.MaskedArray(array, mask=_load_array(blobs, data.get("mask")))
        if sub:
            return array.view(_subclass(sub))
        return array
    if kind == "scalar":
        return _load_array(blobs, data.get("f"))[()]
    if kind == "tensor":
        return _keras().ops.convert_to_tensor(_load_array(blobs, data.get("f")))
    keras = _keras()
    if kind == "initializer":
        return _decode_initializer(data)
    if kind == "spec":
        shape = tuple(None if s is None else int(s) for s in data["shape"])
        return keras.Input(shape, dtype=str(data.get("dtype", "float32")))
    if kind == "model":
        return _load_model(blobs, data, safe, architecture)
    if kind == "graph":
        model = _load_model(blobs, data, safe)
        used = [inputs[int(i)] for i in data.get("inputs", [])]
        if not used:
            raise Refused("a symbolic result that does not depend on the inputs it was given")
        return rewire(model, used)
    if kind == "other":
        return type(str(data.get("type", "object")).rsplit(".", 1)[-1][:60] or "object", (), {})()
    raise Refused(f"an unknown kind of value: {kind!r}")


def _decode_initializer(data):
    keras = _keras()
    name = str(data.get("class"))
    if name == COURSE_INITIALIZER:
        from resnet_course.expected import deterministic_initializer

        cls = deterministic_initializer()
        return cls(**data.get("config", {})) if data.get("instance") else cls
    cls = getattr(keras.initializers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, keras.initializers.Initializer)):
        raise Refused(f"not a Keras initializer: {name!r}")
    if data.get("instance"):
        return keras.initializers.deserialize(data["config"])
    return cls


def _load_model(blobs: Blobs, data: dict, safe: bool, architecture: bool = False):
    """The model ``_save_model`` wrote: rebuilt from its configuration in safe mode (no code from the data runs),
    its variables created at zero and then given the weights sent (none with ``architecture``)."""
    import contextlib

    from resnet_course.keras_internals import safe_mode, zero_initialised

    keras = _keras()
    if data.get("weights") is None and not architecture:
        raise Refused("a model without its weights")
    try:
        config = json.loads(_blob(blobs, data.get("config")).decode())
        with safe_mode() if safe else contextlib.nullcontext(), zero_initialised():
            model = keras.saving.deserialize_keras_object(config, custom_objects=_course_objects(), safe_mode=safe)
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever cannot be rebuilt safely is refused
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise Refused(
            f"the model your function built could not be loaded without running code written in the "
            f"notebook ({text}); build it from Keras layers only"
        ) from None
    if not isinstance(model, keras.Model):
        raise Refused("a model's configuration that does not describe a Keras model")
    if not architecture:  # else the caller copies weights in
        weights = _load_arrays(blobs, data.get("weights"))
        try:
            model.set_weights(weights)
        except ValueError as exc:
            raise Refused(f"weights that do not fit the model ({str(exc)[:200]})") from None
    if data.get("compile"):
        _compile(model, data["compile"], safe)
    return model


def _course_objects() -> dict:
    """The course's own classes a model may hold (the checks' initializer), by their registered names."""
    from resnet_course.expected import deterministic_initializer

    cls = deterministic_initializer()
    return {COURSE_INITIALIZER: cls, f"test_utils>{COURSE_INITIALIZER}": cls}


def rewire(model, inputs: list):
    """The output of ``model``'s graph called layer by layer on ``inputs`` (so the graph shows its layers)."""
    return model._run_through_graph(inputs if len(inputs) > 1 else inputs[0], operation_fn=lambda op: op)
