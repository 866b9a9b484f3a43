"""An MP3 laid out as pieces: stretches that sound, each encoded from the master, and
between them frames of digital silence made without the encoder.

Why: a track here is mostly silence, and the encoder would still analyse every second of
it, for frames that always come out the same (the decoder makes zeros of them). And a track
rebuilt after a small edit is the same as before in most of its pieces: a piece whose
master is unchanged (same samples, same gain) keeps the frames the last build encoded, and
only the pieces that changed go to the encoder.

How a piece fits (see :mod:`pipeline.mp3frames`): frame ``f`` of the stream decodes to
track samples ``1152 f - D`` onwards, where ``D`` is the encoder's delay plus the
decoder's. A piece covering frames ``[first, first + count)`` is encoded from track
samples ``1152 first`` to ``1152 (first + count)``: the encoder then puts out exactly those
frames, provided the ``D`` samples before the piece are silent, which :func:`plan_pieces`
makes sure of by keeping :data:`GUARD` samples of silence around every piece. A frame
outside every piece decodes to zeros whichever way it is made, so made here it costs
nothing. Pieces are cut only where no frame of audio would borrow bits across the cut
(:func:`~pipeline.mp3frames.stands_alone` checks it for every piece encoded).

A track with a bed under it never falls silent, and is one piece.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.atomic import write_text_atomic
from pipeline.master import StretchLoudness
from pipeline.model import TrackAudio
from pipeline.mp3frames import DECODER_DELAY, FRAME_SAMPLES, FrameError, frame_offsets
from pipeline.mp3header import audio_start

log = logging.getLogger(__name__)

#: Bump when a change makes frames encoded before unfit to reuse.
PIECES_FORMAT = 1
#: Silent samples kept between a piece's edge and the nearest sound. The encoder puts bits
#: in the frame before a sound starts (its analysis windows overlap), and a frame may
#: borrow up to 511 bytes from the two before it: a piece starts with two frames more of
#: silence than that, so nothing in it borrows from before it.
GUARD = 4 * FRAME_SAMPLES
#: Pieces fewer frames of silence apart than this are one piece (short gaps are encoded
#: along with the speech around them; each cut costs a little bookkeeping).
MIN_SILENT_FRAMES = 16
#: Samples hashed at a time for a piece's key.
_READ = 1 << 18


@dataclass(frozen=True)
class Piece:
    first: int  # first frame
    count: int  # frames

    @property
    def start(self) -> int:
        """The first track sample the piece is encoded from."""
        return self.first * FRAME_SAMPLES

    @property
    def stop(self) -> int:
        return (self.first + self.count) * FRAME_SAMPLES


@dataclass(frozen=True)
class PiecePlan:
    """The frames of a track's MP3: how many, and which of them are encoded pieces."""

    frames: int
    pieces: tuple[Piece, ...]

    @property
    def encoded_frames(self) -> int:
        return sum(piece.count for piece in self.pieces)


def plan_pieces(track: TrackAudio, encoder_delay: int) -> PiecePlan:
    """The frames of ``track``'s MP3 (as many as a single run of the encoder puts out) and
    the pieces that cover every frame whose audio could be other than silence."""
    delay = encoder_delay + DECODER_DELAY
    frames = -(-(track.length + delay) // FRAME_SAMPLES)
    # Frame f decodes to samples [1152 f - delay, 1152 f - delay + 1152); it is silent when
    # no sound lies within GUARD of that.
    runs: list[list[int]] = []
    for start, stop in track.spans():
        first = max((start + delay - FRAME_SAMPLES - GUARD) // FRAME_SAMPLES + 1, 0)
        last = min(-(-(stop + delay + GUARD) // FRAME_SAMPLES), frames)
        if first >= last:
            continue
        if runs and first - runs[-1][1] < MIN_SILENT_FRAMES:
            runs[-1][1] = max(runs[-1][1], last)
        else:
            runs.append([first, last])
    return PiecePlan(frames, tuple(Piece(first, last - first) for first, last in runs))


def piece_key(track: TrackAudio, piece: Piece, settings: str) -> str:
    """A digest of what the piece's frames are made from: its samples of the (unmastered)
    track and ``settings`` (the gain, the ceiling and the encoder's settings)."""
    digest = hashlib.sha256(f"{PIECES_FORMAT}|{settings}|{piece.count}|".encode())
    for start in range(piece.start, piece.stop, _READ):
        samples = track.read(start, min(start + _READ, piece.stop))
        samples += 0.0  # -0.0 and 0.0 master alike: hashed alike
        digest.update(samples.data)
    return digest.hexdigest()


@dataclass(frozen=True)
class EncodedPiece:
    key: str
    first: int
    count: int
    reduction_db: float  # the limiter's deepest gain reduction in the piece
    limited: int  # samples limited by more than 0.1 dB
    loudness: StretchLoudness  # of its frames, decoded, where they lie in the track

    @property
    def piece(self) -> Piece:
        return Piece(self.first, self.count)

    def to_list(self) -> list[object]:
        measured = self.loudness
        return [
            self.key,
            self.first,
            self.count,
            self.reduction_db,
            self.limited,
            measured.first_hop,
            measured.peak,
            list(measured.hops),
        ]

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> EncodedPiece:
        key, first, count, reduction, limited, first_hop, peak, hops = data
        measured = StretchLoudness(int(first_hop), tuple(float(h) for h in hops), float(peak))
        return cls(str(key), int(first), int(count), float(reduction), int(limited), measured)


@dataclass(frozen=True)
class PieceMap:
    """Which frames of an MP3 file are which pieces, and what they were made with: kept
    beside the build's outputs, so the next build of the track can take its frames."""

    file_digest: str  # of the MP3 the map describes
    settings: dict[str, float | str]  # target, limit, bitrate: what the gain was found for
    gain_db: float
    ceiling_db: float
    input_lufs: float  # of the track the gain was found for
    output_lufs: float
    pieces: tuple[EncodedPiece, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "format": PIECES_FORMAT,
            "file_digest": self.file_digest,
            "settings": self.settings,
            "gain_db": self.gain_db,
            "ceiling_db": self.ceiling_db,
            "input_lufs": self.input_lufs,
            "output_lufs": self.output_lufs,
            "pieces": [piece.to_list() for piece in self.pieces],
        }

    @classmethod
    def from_dict(cls, data: object) -> PieceMap | None:
        if not isinstance(data, dict) or data.get("format") != PIECES_FORMAT:
            return None
        try:
            pieces = tuple(EncodedPiece.from_list(piece) for piece in data["pieces"])
            return cls(
                file_digest=str(data["file_digest"]),
                settings=dict(data["settings"]),
                gain_db=float(data["gain_db"]),
                ceiling_db=float(data["ceiling_db"]),
                input_lufs=float(data["input_lufs"]),
                output_lufs=float(data["output_lufs"]),
                pieces=pieces,
            )
        except (KeyError, TypeError, ValueError):
            return None

    @classmethod
    def read(cls, path: Path) -> PieceMap | None:
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(self.to_dict(), separators=(",", ":")) + "\n")


@dataclass(frozen=True)
class StoredFrames:
    """The frames of each piece of an earlier MP3, by key, copied from the file on request."""

    path: Path
    spans: dict[str, tuple[int, int]]  # key -> (byte offset, byte length) in the file
    pieces: dict[str, EncodedPiece]  # key -> the piece's record
    piece_map: PieceMap

    def copy(self, key: str, out: BinaryIO) -> None:
        """Write the frames of piece ``key`` to ``out``."""
        offset, length = self.spans[key]
        with open(self.path, "rb") as stream:
            stream.seek(offset)
            copy_bytes(stream, out, length)


def copy_bytes(source: BinaryIO, out: BinaryIO, length: int) -> None:
    """Copy ``length`` bytes from ``source``'s position to ``out``, a megabyte at a time."""
    while length > 0:
        data = source.read(min(length, 1 << 20))
        if not data:
            raise FrameError("a file of frames is shorter than its map says")
        out.write(data)
        length -= len(data)


def stored_frames(path: Path, piece_map: PieceMap, file_digest: str) -> StoredFrames | None:
    """The pieces of the MP3 at ``path`` as ``piece_map`` describes them, or None when the
    file is not the one the map was made for (``file_digest`` is its digest now)."""
    if file_digest != piece_map.file_digest:
        return None
    try:
        with open(path, "rb") as stream:
            offsets = frame_offsets(stream, audio_start(stream.read(10)))
    except (OSError, ValueError) as exc:  # FrameError is a ValueError, as is an empty file's
        log.debug("not reusing %s: %s", path, exc)
        return None
    spans = {}
    for piece in piece_map.pieces:
        end = piece.first + piece.count
        if end + 1 >= len(offsets):
            return None
        # Frame 0 of the map is the first after the file's header frame.
        spans[piece.key] = (offsets[piece.first + 1], offsets[end + 1] - offsets[piece.first + 1])
    return StoredFrames(path, spans, {p.key: p for p in piece_map.pieces}, piece_map)


def runs_of_frames(plan: PiecePlan) -> Iterable[tuple[int, int, Piece | None]]:
    """The stream in order, as ``(first frame, frames, piece or None for silence)``."""
    position = 0
    for piece in plan.pieces:
        if piece.first > position:
            yield position, piece.first - position, None
        yield piece.first, piece.count, piece
        position = piece.first + piece.count
    if plan.frames > position:
        yield position, plan.frames - position, None


def split_run(offsets: Sequence[int], pieces: Sequence[Piece]) -> list[tuple[int, int]]:
    """The frames of one encoder run over ``pieces`` (their samples one after another),
    shared out among them: the frame offsets of the run (:func:`frame_offsets`) in, the
    first and last frame index of each piece out. :class:`FrameError` if the run is short."""
    needed = sum(piece.count for piece in pieces)
    if len(offsets) - 1 < needed:
        raise FrameError(f"the encoder put out {len(offsets) - 1} frames, not {needed}")
    shares = []
    position = 0
    for piece in pieces:
        shares.append((position, position + piece.count))
        position += piece.count
    return shares
