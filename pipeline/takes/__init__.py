"""A person's own voice: recorded takes, one per speech segment, played as a voice.

split   recording, LocalePlan -> takes/<role>/<slug>/<segment-id>.flac + takes.json
status  LocalePlan, takes dir -> which takes are there, missing or stale
clean   one take              -> trimmed, filtered, level-matched audio at the master rate
render  LocalePlan, takes dir -> RenderedSegment per segment (the ``takes`` engine)

The modules: :mod:`.detect` finds speech in audio (voice-activity detection plus an energy
floor), :mod:`.align` assigns speech regions to the script's segments, :mod:`.split` cuts a
recording into takes, :mod:`.clean` prepares a take for assembly and :mod:`.store` keeps the
takes folder and its ``takes.json``.
"""

from __future__ import annotations

from pipeline.takes.align import AlignmentError
from pipeline.takes.clean import CleanOptions, CleanTake, NoSpeech, clean_take
from pipeline.takes.split import (
    SplitOptions,
    SplitResult,
    SplitSegment,
    format_table,
    split_recording,
)
from pipeline.takes.store import (
    TakeError,
    TakeRecord,
    TakesStatus,
    TakeState,
    adopt_takes,
    ensure_takes_profile,
    read_takes_json,
    script_folder,
    takes_dir_for,
    takes_folder,
    takes_status,
)

__all__ = [
    "AlignmentError",
    "CleanOptions",
    "CleanTake",
    "NoSpeech",
    "SplitOptions",
    "SplitResult",
    "SplitSegment",
    "TakeError",
    "TakeRecord",
    "TakeState",
    "TakesStatus",
    "adopt_takes",
    "clean_take",
    "ensure_takes_profile",
    "format_table",
    "read_takes_json",
    "script_folder",
    "split_recording",
    "takes_dir_for",
    "takes_folder",
    "takes_status",
]
