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
