"""MP3 frames (MPEG-1 Layer III, the only kind the encoder writes): split a stream into its
frames, read the two side-info fields the bit reservoir depends on, make frames of digital
silence, and check that a run of frames can follow any other frames.

A Layer III frame decodes to 1152 samples, but its audio data (the "main data") need not lie
in the frame itself: ``main_data_begin`` says how many bytes before the end of the previous
frame's side info it starts, in the spare bytes of earlier frames (the bit reservoir). A
run of frames spliced after frames from elsewhere therefore decodes as encoded only when no
frame of it that carries audio reaches back past the run's first frame; frames of digital
silence carry none (their ``part2_3_length`` is 0), so they may point anywhere.

:mod:`pipeline.pieces` uses this to build a track from stretches encoded apart and frames of
silence made here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

#: Samples every MPEG-1 Layer III frame decodes to.
FRAME_SAMPLES = 1152
#: Samples a decoder's synthesis filterbank delays its output by, on top of the encoder's
#: delay (LAME's 576); gapless decoders skip both.
DECODER_DELAY = 529

#: The furthest back a frame's data can start: main_data_begin has 9 bits.
_MAX_BORROW = 511
_BITRATES_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_SAMPLE_RATES = (44100, 48000, 32000)


class FrameError(ValueError):
    """The bytes are not a clean run of MPEG-1 Layer III frames."""


@dataclass(frozen=True)
class FrameHeader:
    """What a frame's 4-byte header says that matters here."""

    bitrate: int  # bits per second
    sample_rate: int
    padded: bool
    channels: int
    protected: bool  # a 16-bit CRC follows the header

    @property
    def length(self) -> int:
        """Bytes in the frame, header included."""
        return 144 * self.bitrate // self.sample_rate + int(self.padded)

    @property
    def side_info_at(self) -> int:
        return 4 + (2 if self.protected else 0)

    @property
    def side_info_length(self) -> int:
        return 17 if self.channels == 1 else 32

    @property
    def main_data_length(self) -> int:
        """Bytes of the frame after its header, CRC and side info (its share of the
        reservoir)."""
        return self.length - self.side_info_at - self.side_info_length


def read_header(data: bytes | memoryview, at: int = 0) -> FrameHeader:
    """The header of the frame at ``at``; :class:`FrameError` if there is none there."""
    if len(data) < at + 4:
        raise FrameError(f"truncated frame header at byte {at}")
    b1, b2, b3 = data[at + 1], data[at + 2], data[at + 3]
    if data[at] != 0xFF or b1 & 0xE0 != 0xE0:
        raise FrameError(f"no frame sync at byte {at}")
    if (b1 >> 3) & 0x3 != 3 or (b1 >> 1) & 0x3 != 1:
        raise FrameError(f"frame at byte {at} is not MPEG-1 Layer III")
    bitrate_index, rate_index = b2 >> 4, (b2 >> 2) & 0x3
    if bitrate_index in (0, 15) or rate_index == 3:
        raise FrameError(f"frame at byte {at} has no fixed bitrate or sample rate")
    return FrameHeader(
        bitrate=_BITRATES_KBPS[bitrate_index] * 1000,
        sample_rate=_SAMPLE_RATES[rate_index],
        padded=bool((b2 >> 1) & 1),
        channels=1 if b3 >> 6 == 3 else 2,
        protected=not b1 & 1,
    )


def split_frames(data: bytes) -> list[bytes]:
    """The frames of ``data``, which must hold whole frames and nothing else."""
    offsets = [0]
    view = memoryview(data)
    while offsets[-1] < len(data):
        offsets.append(offsets[-1] + read_header(view, offsets[-1]).length)
    if offsets[-1] > len(data):
        raise FrameError(f"the last frame (at byte {offsets[-2]}) is cut short")
    return [data[a:b] for a, b in zip(offsets, offsets[1:], strict=False)]


#: Bytes of a frame that say everything :func:`main_data` reads: header, CRC, side info.
HEAD_BYTES = 4 + 2 + 32
_SCAN_READ = 1 << 20


def scan_frames(stream: BinaryIO, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """``(offset, head)`` of each frame of ``stream`` from byte ``start`` to its end, the
    head being the frame's first :data:`HEAD_BYTES` bytes (or all of a shorter frame). The
    stream is read a megabyte at a time, so a long file is never held whole."""
    lengths: dict[bytes, int] = {}  # a constant-bitrate stream has two kinds of header
    stream.seek(start)
    buffer = b""
    at = start  # the file offset of buffer[0]
    position = start  # the next frame's offset
    while True:
        index = position - at
        if len(buffer) - index < HEAD_BYTES:
            buffer, at, index = buffer[index:] + stream.read(_SCAN_READ), position, 0
            if not buffer:
                return
        kind = buffer[index : index + 4]
        length = lengths.get(kind)
        if length is None:
            length = lengths[kind] = read_header(buffer, index).length
        yield position, buffer[index : index + min(HEAD_BYTES, length)]
        position += length
        if position - at > len(buffer):  # the frame runs past what was read
            buffer += stream.read(position - at - len(buffer) + _SCAN_READ)
            if position - at > len(buffer):
                raise FrameError(f"the last frame (at byte {position - length}) is cut short")


def frame_offsets(stream: BinaryIO, start: int = 0) -> list[int]:
    """Where each frame of ``stream`` from byte ``start`` on begins, and where the last
    ends."""
    offsets = []
    end = start
    for offset, head in scan_frames(stream, start):
        offsets.append(offset)
        end = offset + read_header(head).length
    return [*offsets, end]


def read_heads(stream: BinaryIO, offsets: Iterable[int]) -> Iterator[bytes]:
    """The head (as :func:`scan_frames` gives it) of the frame at each of ``offsets``,
    read as asked for."""
    for offset in offsets:
        stream.seek(offset)
        yield stream.read(HEAD_BYTES)


def main_data(frame: bytes) -> tuple[int, int]:
    """``(main_data_begin, bits)``: how many bytes back the frame's audio data starts, and
    how many bits of it there are (0 for a frame of digital silence)."""
    header = read_header(frame)
    at = header.side_info_at
    side = int.from_bytes(frame[at : at + header.side_info_length], "big")
    width = header.side_info_length * 8

    def field(offset: int, bits: int) -> int:
        return (side >> (width - offset - bits)) & ((1 << bits) - 1)

    channels = header.channels
    # main_data_begin (9 bits), private bits (5 mono, 3 stereo), scfsi (4 per channel),
    # then per granule and channel 59 bits, starting with part2_3_length (12 bits).
    first_granule = 9 + (5 if channels == 1 else 3) + 4 * channels
    total = sum(
        field(first_granule + 59 * (granule * channels + channel), 12)
        for granule in range(2)
        for channel in range(channels)
    )
    return field(0, 9), total


def stands_alone(frames: Iterable[bytes]) -> bool:
    """True when every frame of ``frames`` (whole, or their heads, see :func:`scan_frames`)
    that carries audio finds all of its data within ``frames``: the run decodes the same
    after whatever frames precede it."""
    available = 0  # reservoir bytes the run itself has put down so far
    for frame in frames:
        if available >= _MAX_BORROW:
            return True  # no frame can reach back further than this
        begin, bits = main_data(frame)
        if bits and begin > available:
            return False
        available += read_header(frame).main_data_length
    return True


def silent_frames(template: bytes, first: int, count: int) -> bytes:
    """``count`` frames of digital silence, numbered from ``first`` in the stream, with the
    header of ``template`` (a frame of the stream). Each is padded or not as a constant
    bitrate needs at its place, so the stream keeps its exact byte rate."""
    header = read_header(template)
    if header.protected:
        raise FrameError("frames with a CRC cannot be made silent here")
    unpadded = 144 * header.bitrate // header.sample_rate
    remainder = 144 * header.bitrate % header.sample_rate
    head = bytes(template[:2])
    plain = bytes([template[2] & ~0x02, template[3]])
    padded = bytes([template[2] | 0x02, template[3]])
    body = bytes(unpadded - 4)  # side info all zero: no data, nothing borrowed
    frames = []
    for index in range(first, first + count):
        if (index + 1) * remainder // header.sample_rate - index * remainder // header.sample_rate:
            frames.append(head + padded + body + b"\0")
        else:
            frames.append(head + plain + body)
    return b"".join(frames)
