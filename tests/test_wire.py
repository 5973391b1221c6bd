"""The typed boundary of grading (resnet_course/grading/wire.py, records.py): frames, caps, the one parser.

Everything that crosses between grade_one, the notebooks' sandbox and the judge is a frame of ``wire`` holding a
record of ``records``. These tests feed each reader what a hostile sandbox could write: sizes beyond the caps
(refused before anything is read or allocated), malformed headers, wrong types, runs of notebooks it was not given.
"""

from __future__ import annotations

import os
import threading

import pytest

from resnet_course.grading import records, wire


def pipe_with(data: bytes) -> int:
    """The read end of a pipe that receives ``data`` (written by a thread, then closed)."""
    read, write = os.pipe()

    def feed():
        try:
            os.write(write, data)
        except OSError:
            pass
        os.close(write)

    threading.Thread(target=feed, daemon=True).start()
    return read


def test_send_and_read_carry_large_blobs_through_a_wide_pipe_in_order():
    """``send`` writes each blob where it lies and ``Reader`` reads it into place: two frames of several MB
    each, back to back, cross intact, as ``encode`` would have written them."""
    import fcntl

    read, write = wire.pipe()
    size = fcntl.fcntl(write, getattr(fcntl, "F_GETPIPE_SZ", 1032))
    with open("/proc/sys/fs/pipe-max-size") as f:
        assert size == min(wire.PIPE_BYTES, int(f.read()))
    first, second = wire.Blobs(), wire.Blobs()
    a = first.put(".npz", os.urandom(3 << 20) + b"end")
    b, c = second.put(".json", b"{}"), second.put(".npy", bytes(range(256)) * 20_000)

    def feed():
        wire.send(write, "reply", {"id": 1}, first)
        wire.send(write, "reply", {"id": 2}, second)
        os.close(write)

    threading.Thread(target=feed, daemon=True).start()
    reader = wire.Reader(read)
    one, two = reader.read(30), reader.read(30)
    assert one.body == {"id": 1} and one.blobs.get(a) == first.get(a)
    assert two.body == {"id": 2} and two.blobs.get(b) == b"{}" and two.blobs.get(c) == second.get(c)
    os.close(read)


def test_send_writes_the_bytes_encode_describes(tmp_path):
    blobs = wire.Blobs()
    blobs.put(".npy", b"\x01" * 70_000)
    blobs.put(".json", b"[]")
    path = tmp_path / "frame"
    with open(path, "wb") as f:
        wire.send(f.fileno(), "call", {"id": 7}, blobs)
    assert path.read_bytes() == wire.encode("call", {"id": 7}, blobs)


def test_a_frame_crosses_intact_with_its_blobs():
    blobs = wire.Blobs()
    name = blobs.put(".npy", b"\x00" * 100_000)
    fd = pipe_with(wire.encode("reply", {"id": 3, "result": {"f": name}}, blobs))
    frame = wire.Reader(fd).read(10)
    assert frame.kind == "reply" and frame.body == {"id": 3, "result": {"f": name}}
    assert frame.blobs.get(name) == b"\x00" * 100_000


@pytest.mark.parametrize(
    "data, says",
    [
        (b'{"kind": "reply", "body": {}, "blobs": [["v0.npy", 100000000000]]}\n', "more than"),
        (b"{" + b" " * 2000, "longer than"),
        (b"not json\n", "not JSON"),
        (b'{"kind": 3, "body": {}}\n', "without a kind"),
        (b'{"kind": "reply", "body": [], "blobs": []}\n', "wrong type"),
        (b'{"kind": "reply", "body": {}, "blobs": [["../x", 1]]}\n', "malformed blob"),
        (b'{"kind": "reply", "body": {}, "blobs": [["v0", -1]]}\n', "malformed blob"),
        (b'{"kind": "reply", "body": {}, "blobs": [["v0", 10]]}\nabc', "closed its end"),
    ],
)
def test_what_a_hostile_sandbox_writes_is_refused_before_it_is_read(data, says):
    fd = pipe_with(data)
    with pytest.raises(wire.WireError, match=says):
        wire.Reader(fd, header_cap=1000, blob_cap=1 << 20).read(10)


def test_a_reader_gives_up_at_its_deadline():
    read, write = os.pipe()
    try:
        with pytest.raises(wire.WireError, match="in time"):
            wire.Reader(read).read(0.2)
    finally:
        os.close(read)
        os.close(write)


def test_the_parser_checks_every_field_and_nothing_else_reads_the_dicts():
    good = {"id": 1, "error": "ValueError", "message": "bad", "line": [3, "x = 1"]}
    assert records.parse(records.Reply, good).line == [3, "x = 1"]
    for bad, says in (
        ({"id": "1"}, "expected int"),
        ({"id": 1, "printed": 5}, "expected str"),
        ({"id": 1, "shared": "a"}, "expected a list"),
        ({"id": 1, "line": [[1]]}, "Reply.line"),
        ([], "expected an object"),
        ({}, "missing 'id'"),
        ({"id": 1, "message": "x" * (records.MAX_TEXT + 1)}, "a string of"),
    ):
        with pytest.raises(records.RecordError, match=says):
            records.parse(records.Reply, bad)
    verdict = records.parse(records.Verdict, {"passed": True, "output": "", "message": "", "seconds": 1})
    assert verdict.seconds == 1.0 and records.dump(verdict)["fault"] is False


def test_the_judge_takes_runs_only_of_the_notebooks_it_was_given_and_each_once():
    from resnet_course.grading.judge import Channel

    run = {"file": "02/identity_block.ipynb", "cells": [], "seconds": 1.0}
    frames = wire.encode("run", run) + wire.encode("ready", {"notebooks": 1})
    channel = Channel(None, pipe_with(frames))
    assert [r.file for r in channel.runs(10, {"02/identity_block.ipynb"})] == ["02/identity_block.ipynb"]
    assert channel.dead is None
    for sent in (wire.encode("run", run) * 2, wire.encode("run", dict(run, file="other.ipynb"))):
        channel = Channel(None, pipe_with(sent + wire.encode("ready", {"notebooks": 1})))
        channel.runs(10, {"02/identity_block.ipynb"})
        assert channel.dead and "not given, or twice" in channel.dead
