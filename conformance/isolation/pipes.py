"""Reading a scenario process's pipes: its events to the end, its output capped (head and tail
kept, what was dropped counted), so that a flood costs memory of a fixed size."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

OUTPUT_HEAD = 16 * 1024
OUTPUT_TAIL = 16 * 1024
READ_CHUNK = 64 * 1024


@dataclass
class CappedOutput:
    """Keeps the first and the last bytes of a stream, and counts what it dropped."""

    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def add(self, data: bytes) -> None:
        room = OUTPUT_HEAD - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        if len(self.tail) > OUTPUT_TAIL:
            cut = len(self.tail) - OUTPUT_TAIL
            self.dropped += cut
            del self.tail[:cut]

    def as_dict(self) -> dict[str, Any]:
        return {
            "head": self.head.decode("utf-8", "replace"),
            "tail": self.tail.decode("utf-8", "replace"),
            "dropped": self.dropped,
        }


def available(fd: int) -> bytes:
    """What can be read from `fd` now, without waiting for its writer to close."""
    os.set_blocking(fd, False)
    chunks = []
    with contextlib.suppress(BlockingIOError):
        while data := os.read(fd, READ_CHUNK):
            chunks.append(data)
    return b"".join(chunks)


def drain(fd: int) -> bytes:
    chunks = []
    while True:
        data = os.read(fd, READ_CHUNK)
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks)
