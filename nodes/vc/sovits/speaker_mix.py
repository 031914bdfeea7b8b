"""so-vits-svc's speaker mix (spkmix.py): per speaker, weight ramps over the whole input, normalised per
frame; each synthesizer call takes the frames it covers."""
from __future__ import annotations

import numpy as np
import torch

Segment = tuple[float, float, float, float]  # (start, end) as fractions of the input, weight from -> to


def mix_track(track: dict[int, list[Segment]], n_speakers: int, frames: int) -> torch.Tensor:
    """(n_speakers, frames) weights summing to 1 per frame: each speaker's segments, which must tile their
    span end to start, ramp linearly over int(frames * start) .. int(frames * end); frames where every
    weight is 0 are shared equally (upstream's rules)."""
    weights = torch.zeros(n_speakers, frames)
    for sid, segments in track.items():
        last_end = None
        for start, end, w0, w1 in segments:
            if w0 < 0 or w1 < 0:
                raise ValueError("speaker_mix_track: weights must be >= 0")
            begin, stop = int(frames * start), int(frames * end)
            length = stop - begin
            if length <= 0:
                raise ValueError(f"speaker_mix_track: segment ({start}, {end}) is empty or reversed")
            if last_end is not None and last_end != begin:
                raise ValueError("speaker_mix_track: each segment must start where the previous one ended")
            last_end = stop
            step = (w1 - w0) / length
            ramp = torch.full((length,), float(w0)) if step == 0 else torch.arange(w0, w1, step)
            if ramp.shape[0] < length:  # float arange can come out a step short
                ramp = torch.from_numpy(np.pad(ramp.numpy(), (0, length - ramp.shape[0]), mode="reflect"))
            weights[sid, begin:stop] = ramp[:length]
    total = weights.sum(dim=0)
    silent = total == 0
    weights[:, silent] = 1.0 / n_speakers
    total[silent] = 1.0
    return weights / total


def frames_for_call(weights: torch.Tensor, first: int, n: int) -> torch.Tensor:
    """(n, n_speakers) weights from frame `first`, the last column held where the track runs short (its
    frame count is upstream's estimate, a frame or so short when the input is resampled)."""
    part = weights[:, first:first + n]
    if part.shape[1] < n:
        tail = (weights[:, -1:] if weights.shape[1] else torch.full((weights.shape[0], 1), 1 / weights.shape[0]))
        part = torch.cat([part, tail.expand(-1, n - part.shape[1])], dim=1)
    return part.T.contiguous()
