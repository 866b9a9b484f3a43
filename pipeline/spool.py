"""Rendered speech kept on disk instead of in memory, for long tracks.

An hour of speech at 44.1 kHz is 635 MB of float32. A build renders every segment before it
masters the track, so without this the whole hour of speech would sit in memory at once.
A :class:`Spool` is one anonymous temporary file (removed by the operating system when it
is closed, or when the process dies); each rendered segment is appended to it and replaced
by a :class:`Spooled` handle that reads its samples back a stretch at a time into
ordinary arrays (no memory map, so nothing read stays resident).

Samples are stored exactly (float32, native byte order), so a spooled track renders the
same bytes as one held in memory.
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Any

import numpy as np

_ITEM = np.dtype(np.float32).itemsize


class Spool:
    """An append-only store of float32 sample runs in a temporary file."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        # Closed by close() or the context manager; unlinked on creation, so never left behind.
        self._file = tempfile.TemporaryFile(  # noqa: SIM115
            prefix="voicetrack-", suffix=".f32", dir=directory
        )
        self._end = 0  # bytes written
        self._lock = threading.Lock()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    @property
    def nbytes(self) -> int:
        """Bytes of samples stored so far."""
        return self._end

    def put(self, samples: np.ndarray) -> Spooled:
        """Store ``samples`` (any shape, flattened to float32) -> a handle that reads them."""
        data = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).reshape(-1))
        with self._lock:
            offset = self._end
            self._file.seek(offset)
            self._file.write(data.data.cast("B"))
            self._end += data.nbytes
        return Spooled(self, offset // _ITEM, len(data))

    @property
    def end(self) -> int:
        """Samples stored so far: where the next :meth:`put` lands."""
        return self._end // _ITEM

    def since(self, first: int) -> Spooled:
        """A handle on every sample stored from sample index ``first`` on: consecutive puts
        lie end to end, so this joins them without a copy."""
        return Spooled(self, first, self.end - first)

    def read(self, first: int, count: int) -> np.ndarray:
        """``count`` samples from sample index ``first`` of the file (a new array)."""
        if self.closed:
            raise ValueError("the spool is closed")
        out = np.empty(count, dtype=np.float32)
        view = out.data.cast("B")
        with self._lock:
            self._file.seek(first * _ITEM)
            done = self._file.readinto(view)
        if done != len(view):
            raise OSError("the spool file is shorter than what was written to it")
        return out


class Spooled:
    """Samples in a :class:`Spool`: sized and sliced like a 1-D float32 array, read on demand.

    ``spooled[a:b]`` reads those samples into a new array; :meth:`part` is a handle on a
    stretch without reading it; ``np.asarray(spooled)`` reads everything.
    """

    __slots__ = ("_first", "_length", "_spool")
    ndim = 1
    dtype = np.dtype(np.float32)

    def __init__(self, spool: Spool, first: int, length: int) -> None:
        self._spool = spool
        self._first = first
        self._length = length

    def __len__(self) -> int:
        return self._length

    @property
    def shape(self) -> tuple[int]:
        return (self._length,)

    def _bounds(self, key: slice) -> tuple[int, int]:
        start, stop, step = key.indices(self._length)
        if step != 1:
            raise IndexError("spooled samples are read in contiguous stretches only")
        return start, max(stop, start)

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("index spooled samples with a slice, e.g. samples[a:b]")
        start, stop = self._bounds(key)
        return self._spool.read(self._first + start, stop - start)

    def part(self, start: int, stop: int) -> Spooled:
        """A handle on samples ``start`` to ``stop`` of these, without reading them."""
        start, stop = self._bounds(slice(start, stop))
        return Spooled(self._spool, self._first + start, stop - start)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        samples = self[:]
        return samples if dtype is None else samples.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"<Spooled {self._length} samples>"
