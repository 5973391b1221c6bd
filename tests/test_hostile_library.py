"""Issue 23: Keras's own ResNet50, renamed or copied layer by layer, must not score on ResNet50.

The entries of ``HOSTILE_LIBRARY`` (resnet_course/catalogue/adversarial.py) meet the ResNet50 checks in process
(the student's kernel: ``public_tests``) and through the judge's proxy, with a 'sandbox' whose builder runs the
judge's own recording cannot see (as in a real sandbox, another interpreter): only the sandbox's report tells.
The reference solution and every ResNet50 variant of the catalogue still pass.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras.src.applications import resnet

import public_tests
from resnet_course import keras_internals
from resnet_course.catalogue.hostile import HOSTILE_LIBRARY, LIBRARY_EVIDENCE
from resnet_course.catalogue.mutants import VARIANTS
from resnet_course.grading import codec, judge, server, wire
from resnet_course.harness import unwrapped
from resnet_course.weights import keras_blocks
from tests.test_judge import LocalChannel
from tools.mutation_score import evaluate
from tools.notebooks import find_exercise, load_solution

MESSAGE = LIBRARY_EVIDENCE[0][1]
CHECKS = [public_tests.ResNet50_test, public_tests.ResNet50_hidden_test]
ORIGINAL_BUILDER = resnet.ResNet  # Keras's ResNet builder, before any recording patches it


def _hostile(entry):
    """The entry's ResNet50, defined as its answer cell defines it in the notebook's namespace."""
    _, nb, index = find_exercise("ResNet50")
    identity_block, convolutional_block = keras_blocks()
    namespace = {
        "keras": keras,
        "layers": keras.layers,
        "np": np,
        "identity_block": identity_block,
        "convolutional_block": convolutional_block,
    }
    exec(entry.answer("ResNet50", nb.cells[index].source), namespace)  # noqa: S102
    return namespace["ResNet50"]


class SeparateChannel(LocalChannel):
    """``server.call`` in this process, blind to the judge's recordings, as another interpreter would be."""

    def send(self, request, blobs, timeout):
        patched, open_recordings = resnet.ResNet, list(keras_internals._RECORDINGS)
        resnet.ResNet, keras_internals._RECORDINGS[:] = ORIGINAL_BUILDER, []
        try:
            return super().send(request, blobs, timeout)
        finally:
            resnet.ResNet, keras_internals._RECORDINGS[:] = patched, open_recordings


@pytest.mark.parametrize("entry", HOSTILE_LIBRARY, ids=lambda e: e.id)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_keras_resnet50_renamed_is_refused_in_process(entry, check, monkeypatch):
    monkeypatch.setenv("RESNET_COURSE_FAST", "1")
    with pytest.raises(AssertionError) as failed:
        check(_hostile(entry))
    message = unwrapped(failed.value)
    assert "made by keras.applications" in message, message
    assert MESSAGE in message and "configuration and weights" in message, message


@pytest.mark.parametrize("entry", HOSTILE_LIBRARY, ids=lambda e: e.id)
def test_keras_resnet50_renamed_is_refused_by_the_judge(entry, tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_COURSE_FAST", "1")
    verdict = judge.judge(SeparateChannel(tmp_path, {"ResNet50": _hostile(entry)}), "resnet50.ipynb", "ResNet50")
    assert not verdict["passed"] and MESSAGE in unwrapped(verdict["message"]), verdict["message"]


def test_the_sandbox_reports_keras_builder_runs_only():
    def call(function):
        kwargs, blobs = {"input_shape": (32, 32, 3), "classes": 2}, wire.Blobs()
        request = {"name": "ResNet50", "args": [], "kwargs": {k: codec.encode(v, blobs) for k, v in kwargs.items()}}
        return server.call(function, request, 1000, blobs, wire.Blobs())

    assert call(_hostile(HOSTILE_LIBRARY[0]))["keras_resnets"] == ["resnet50"]
    assert call(load_solution("ResNet50"))["keras_resnets"] == []


def _names_stripped(model) -> list:
    config = model.get_config()
    text = json.dumps(config["layers"])
    for i, layer in enumerate(config["layers"]):
        text = text.replace(json.dumps(layer["name"]), json.dumps(f"layer{i}"))
    return json.loads(text)


def test_only_names_tell_keras_resnet50_from_the_reference_solution():
    """Why the check needs the sandbox's report: renamed, Keras's model is the reference solution's graph."""
    reference = load_solution("ResNet50")(input_shape=(64, 64, 3), classes=6)
    delegated = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=6)
    assert reference.name != delegated.name
    assert _names_stripped(reference) == _names_stripped(delegated)


RESNET_VARIANTS = [e for e in VARIANTS if e.exercise == "ResNet50"]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_reference_solution_passes(check, monkeypatch):
    monkeypatch.setenv("RESNET_COURSE_FAST", "1")
    check(load_solution("ResNet50"))


@pytest.mark.parametrize("entry", RESNET_VARIANTS, ids=lambda e: e.id)
def test_every_resnet50_variant_passes(entry):
    outcome = evaluate(entry, mutant=False)
    assert outcome.ok, outcome.detail
