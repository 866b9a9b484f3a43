"""voicetrack: turn exercise scripts into mastered British and American audio tracks."""

__version__ = "0.1.0"
