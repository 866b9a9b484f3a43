"""Reading and patching an MP3 file's headers in place: the LAME/Info header that carries
the encoder delay and padding (what a gapless decoder needs to play exactly the samples that
were encoded), and the order of the chapter frames in its ID3v2.3 tag.

Encoder delay: LAME delays its output by 576 samples, the decoder adds 529 more, and the
last frame is padded to a whole frame. ffmpeg records delay and padding in the LAME/Info
header of the first frame, and a decoder that reads it (ffmpeg's does) removes both: the
decoded track is exactly as long as the input, sample for sample, so chapter and caption
times need no offset. A decoder that ignores the header plays everything 1105 samples
(25 ms) late: well inside the +-50 ms the timing model promises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class GaplessInfo:
    """What the LAME/Info header of an MP3 says about its length."""

    frames: int  # audio frames, not counting the header frame
    samples_per_frame: int
    encoder_delay: int  # samples the encoder added at the start (decoders add 529 more)
    padding: int  # samples of padding at the end

    @property
    def samples(self) -> int:
        """Length a gapless decoder plays."""
        return self.frames * self.samples_per_frame - self.encoder_delay - self.padding


def gapless_info(path: Path | str) -> GaplessInfo | None:
    """Read frame count, encoder delay and padding from the LAME/Info header of an MP3."""
    with open(path, "rb") as stream:
        stream.seek(_audio_offset(stream))
        found = _parse_info_frame(stream.read(_INFO_READ))
    return found[0] if found else None


def set_gapless_padding(path: Path | str, samples: int, encoder_delay: int | None = None) -> bool:
    """Rewrite the padding in the LAME/Info header of ``path`` so that a gapless decoder
    plays exactly ``samples`` samples; True when the header was changed. ``encoder_delay``
    replaces the delay the header gives (a header written for frames copied from
    elsewhere gives none).

    ffmpeg's muxer records at most one frame of trailing padding (plus the decoder's
    delay), so when the encoder flushed a frame of padding more, players would hold a
    few dozen samples of the encoder's tail too. The header's checksum is recomputed as
    ffmpeg computes it; a header that does not check out as written is left alone.
    """
    with open(path, "r+b") as stream:
        offset = _audio_offset(stream)
        stream.seek(offset)
        frame = bytearray(stream.read(_INFO_READ))
        found = _parse_info_frame(bytes(frame))
        if found is None:
            return False
        info, fields_at, crc_at = found
        if int.from_bytes(frame[crc_at : crc_at + 2], "big") != _tag_crc(frame, crc_at):
            return False
        delay = info.encoder_delay if encoder_delay is None else encoder_delay
        padding = info.frames * info.samples_per_frame - delay - samples
        if (delay, padding) == (info.encoder_delay, info.padding):
            return False
        if not (0 <= padding < 1 << 12 and 0 <= delay < 1 << 12):
            return False
        frame[fields_at : fields_at + 3] = ((delay << 12) | padding).to_bytes(3, "big")
        frame[crc_at : crc_at + 2] = _tag_crc(frame, crc_at).to_bytes(2, "big")
        stream.seek(offset)
        stream.write(frame[: crc_at + 2])
    return True


# --------------------------------------------------------------------------- internals


#: Bytes read from the start of the audio: enough for the LAME/Info header frame.
_INFO_READ = 2048
#: ffmpeg checksums the first 190 bytes of the header frame, the checksum field zeroed.
_TAG_CRC_SPAN = 190


def _audio_offset(stream: IO[bytes]) -> int:
    """Where the audio starts: after an ID3v2 tag, if the file begins with one."""
    stream.seek(0)
    return audio_start(stream.read(10))


def audio_start(head: bytes) -> int:
    """Where the audio of a file that begins with ``head`` (10 bytes or more) starts: after
    its ID3v2 tag, if it begins with one."""
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    # The tag size is four 7-bit bytes ("syncsafe"), after a 10-byte header.
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _parse_info_frame(frame: bytes) -> tuple[GaplessInfo, int, int] | None:
    """The gapless fields of a LAME/Info header frame, with where the delay and padding
    field and the header's checksum lie in it; None when ``frame`` has no such header."""
    if len(frame) < 4 or frame[0] != 0xFF or frame[1] & 0xE0 != 0xE0:
        return None
    version = (frame[1] >> 3) & 0x3  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    mono = (frame[3] >> 6) == 3
    if version == 3:
        side_info, samples_per_frame = (17 if mono else 32), 1152
    else:
        side_info, samples_per_frame = (9 if mono else 17), 576
    position = 4 + side_info
    if frame[position : position + 4] not in (b"Xing", b"Info"):
        return None
    flags = int.from_bytes(frame[position + 4 : position + 8], "big")
    position += 8
    frames = None
    if flags & 0x1:
        frames = int.from_bytes(frame[position : position + 4], "big")
        position += 4
    position += (4 if flags & 0x2 else 0) + (100 if flags & 0x4 else 0) + (4 if flags & 0x8 else 0)
    # The LAME extension (36 bytes): a 9-byte encoder name, 12 bytes of settings, 12 bits
    # of encoder delay and 12 of padding, 8 more bytes, and the header's checksum last.
    lame = frame[position : position + 36]
    if frames is None or len(lame) < 36:
        return None
    delay_padding = int.from_bytes(lame[21:24], "big")
    info = GaplessInfo(
        frames=frames,
        samples_per_frame=samples_per_frame,
        encoder_delay=delay_padding >> 12,
        padding=delay_padding & 0xFFF,
    )
    return info, position + 21, position + 34


def _tag_crc(frame: bytes | bytearray, crc_at: int) -> int:
    """The header checksum as ffmpeg computes it: CRC-16 (ARC) of the first
    :data:`_TAG_CRC_SPAN` bytes with the checksum field itself taken as zero."""
    data = bytearray(frame[:_TAG_CRC_SPAN])
    data[crc_at : crc_at + 2] = b"\0\0"
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def order_chapter_frames(path: Path, element_ids: Sequence[str]) -> None:
    """Rewrite the ID3v2.3 tag at the start of ``path`` so its CHAP frames follow each other
    in the order of ``element_ids`` (time order).

    ffmpeg, and the players built on it, list chapters in the order their frames lie in the
    file, not by the CTOC or the start times; mutagen writes frames smallest first. The
    frames keep their bytes and the tag its size: only their order changes.
    """
    with open(path, "r+b") as stream:
        header = stream.read(10)
        if header[:3] != b"ID3" or header[3] != 3 or header[5] & 0x80:
            return  # not an ID3v2.3 tag mutagen wrote (unsynchronised tags are not)
        size = 0
        for byte in header[6:10]:
            size = (size << 7) | (byte & 0x7F)
        body = stream.read(size)
        frames: list[tuple[bytes, bytes]] = []  # (frame id, whole frame)
        position = 0
        while position + 10 <= len(body) and body[position] != 0:
            frame_size = int.from_bytes(body[position + 4 : position + 8], "big")
            frames.append(
                (body[position : position + 4], body[position : position + 10 + frame_size])
            )
            position += 10 + frame_size
        chapters = {
            _chap_element_id(frame): frame for frame_id, frame in frames if frame_id == b"CHAP"
        }
        if sorted(chapters) != sorted(element_ids):
            return
        ordered = iter([chapters[element_id] for element_id in element_ids])
        rewritten = b"".join(
            next(ordered) if frame_id == b"CHAP" else frame for frame_id, frame in frames
        )
        stream.seek(10)
        stream.write(rewritten)


def _chap_element_id(frame: bytes) -> str:
    """The element ID of a whole CHAP frame: the NUL-terminated string its data starts with."""
    return frame[10:].split(b"\0", 1)[0].decode("latin-1")
