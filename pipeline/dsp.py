"""Small signal-processing helpers that several stages share."""

from __future__ import annotations

from math import gcd

import numpy as np

from pipeline.model import SAMPLE_RATE


def seconds_to_samples(seconds: float, sample_rate: int = SAMPLE_RATE) -> int:
    """The length in whole samples closest to ``seconds``."""
    return int(round(seconds * sample_rate))


def resample(
    samples: np.ndarray, from_rate: int, to_rate: int, *, dtype: type = np.float32
) -> np.ndarray:
    """Band-limited polyphase resampling (linear phase) by the exact rational factor between
    two rates, of a mono signal, computed and returned as ``dtype``."""
    samples = np.asarray(samples, dtype=dtype)
    if from_rate == to_rate:
        return samples
    from scipy.signal import resample_poly  # slow to import; only resampling needs it

    common = gcd(int(from_rate), int(to_rate))
    up, down = int(to_rate) // common, int(from_rate) // common
    return resample_poly(samples, up, down).astype(dtype, copy=False)
