"""How grading processes talk: framed messages over pipes, sizes checked before anything is allocated.

A frame is one line of JSON, ``{"kind": K, "body": {...}, "blobs": [[name, size], ...]}``, then the blobs'
bytes, back to back. The reader refuses a header longer than ``header_cap`` bytes and a frame whose blobs add
up to more than ``blob_cap`` bytes *before* reading them, and gives up at a deadline. Nothing crosses through
a path: the sandbox's scratch folder is its own tmpfs, which no other process opens (docs/grading.md).
"""

from __future__ import annotations

import io
import json
import os
import re
import select
import time
from dataclasses import dataclass, field

HEADER_CAP = 16 << 20  # one frame's JSON header
BLOB_CAP = 512 << 20  # one frame's blobs (a ResNet-50's weights are 94 MB)
BLOB_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


PIPE_BYTES = 1 << 20  # a pipe's buffer: Linux's default is 64 KiB, so a 94 MB model took 1,500 switches each way


def pipe() -> tuple[int, int]:
    """``os.pipe()`` with a buffer of ``PIPE_BYTES`` where the kernel allows it (Linux: ``F_SETPIPE_SZ``, up to
    ``/proc/sys/fs/pipe-max-size`` for an ordinary user); the default buffer elsewhere."""
    import fcntl

    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:
        pass  # above the per-user limit, or not Linux: the default size still works
    return read_end, write_end


class WireError(Exception):
    """The other side sent something that is not a frame, too much, or nothing in time (or closed its end)."""


class Blobs:
    """The binary parts of one frame, by name (``.npy``, ``.npz`` and ``.json`` files that never touch a disk)."""

    def __init__(self, items: dict[str, bytes] | None = None):
        self.items: dict[str, bytes] = dict(items or {})
        self._next = 0

    def put(self, suffix: str, data: bytes) -> str:
        name = f"v{self._next}{suffix}"
        self._next += 1
        self.items[name] = bytes(data)
        return name

    def get(self, name) -> bytes:
        if not isinstance(name, str) or name not in self.items:
            raise WireError(f"no blob {str(name)[:80]!r} in this message")
        return self.items[name]

    def size(self) -> int:
        return sum(len(v) for v in self.items.values())


@dataclass
class Frame:
    kind: str
    body: dict
    blobs: Blobs = field(default_factory=Blobs)


def encode(kind: str, body: dict, blobs: Blobs | None = None) -> bytes:
    blobs = blobs or Blobs()
    header = {"kind": kind, "body": body, "blobs": [[k, len(v)] for k, v in blobs.items.items()]}
    out = io.BytesIO()
    out.write(json.dumps(header, allow_nan=True).encode() + b"\n")
    for data in blobs.items.values():
        out.write(data)
    return out.getvalue()


def send(fd: int, kind: str, body: dict, blobs: Blobs | None = None) -> None:
    """Write one frame to the file descriptor ``fd`` (blocking): the header, then each blob from where it lies."""
    blobs = blobs or Blobs()
    header = {"kind": kind, "body": body, "blobs": [[k, len(v)] for k, v in blobs.items.items()]}
    for part in (json.dumps(header, allow_nan=True).encode() + b"\n", *blobs.items.values()):
        data = memoryview(part)
        while data:
            written = os.write(fd, data[:PIPE_BYTES])
            data = data[written:]


class Reader:
    """Reads frames from a file descriptor, each within a deadline and the caps."""

    def __init__(self, fd: int, header_cap: int = HEADER_CAP, blob_cap: int = BLOB_CAP):
        self.fd, self.header_cap, self.blob_cap = fd, header_cap, blob_cap
        self.buffer = bytearray()

    def _wait(self, deadline: float | None) -> None:
        """Until the pipe has something to read, at most until ``deadline``."""
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise WireError("no answer in time")

    @staticmethod
    def _got(count: int) -> int:
        if not count:
            raise WireError("the other side closed its end (it ended or was killed)")
        return count

    def _fill(self, deadline: float | None) -> None:
        self._wait(deadline)
        chunk = os.read(self.fd, PIPE_BYTES)
        self._got(len(chunk))
        self.buffer += chunk

    def read(self, timeout: float | None = None) -> Frame:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (end := self.buffer.find(b"\n")) < 0:
            if len(self.buffer) > self.header_cap:
                raise WireError(f"a message header longer than {self.header_cap} bytes")
            self._fill(deadline)
        if end > self.header_cap:
            raise WireError(f"a message header longer than {self.header_cap} bytes")
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 1]
        try:
            header = json.loads(line.decode())
        except (UnicodeDecodeError, ValueError):
            raise WireError("a message that is not JSON") from None
        if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
            raise WireError("a message without a kind")
        body, sizes = header.get("body"), header.get("blobs", [])
        if not isinstance(body, dict) or not isinstance(sizes, list):
            raise WireError("a message whose body or blob list has the wrong type")
        total = 0
        for item in sizes:
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not isinstance(item[0], str)
                or not BLOB_NAME.match(item[0])
                or type(item[1]) is not int
                or item[1] < 0
            ):
                raise WireError("a message with a malformed blob entry")
            total += item[1]
        if total > self.blob_cap:
            raise WireError(f"a message of {total} bytes, more than the {self.blob_cap} allowed")
        blobs = {}
        for name, size in sizes:
            blobs[name] = self._take(size, deadline)
        return Frame(header["kind"], body, Blobs(blobs))

    def _take(self, size: int, deadline: float | None) -> bytes:
        """The next ``size`` bytes: what the buffer holds, then read straight into place (one copy, not three)."""
        if len(self.buffer) >= size:
            data = bytes(self.buffer[:size])
            del self.buffer[:size]
            return data
        out = bytearray(size)
        view = memoryview(out)
        have = len(self.buffer)
        view[:have] = self.buffer
        self.buffer.clear()
        while have < size:
            self._wait(deadline)
            have += self._got(os.readv(self.fd, [view[have:]]))
        view.release()
        return bytes(out)
