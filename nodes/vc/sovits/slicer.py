"""so-vits-svc's slicing: silence detection (its inference/slicer.py), and slice_inference's assembly of
per-chunk conversions: silent chunks as zeros, voiced chunks padded, converted, trimmed and centred,
optionally cut to a forced length with crossfades."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from haysay.nodes.vc.sovits.envelope import frame_rms


class Chunk(NamedTuple):
    start: int   # samples
    end: int
    silent: bool


def slice_silence(wav: np.ndarray, sample_rate: int, threshold_db: float = -40.0, min_length_ms: int = 5000,
                  min_interval_ms: int = 300, hop_ms: int = 20, max_sil_kept_ms: int = 5000) -> list[Chunk]:
    """Voiced and silent chunks covering `wav`, as upstream's Slicer(sr, threshold_db, min_length).slice
    lists them (zero-length entries included): a silence is cut out where 20 ms-hop RMS stays under the
    threshold for at least min_interval and the clip before it is at least min_length long, keeping up to
    max_sil_kept of the silence on each side, cut at its quietest frame."""
    threshold = 10 ** (threshold_db / 20.0)
    hop = round(sample_rate * hop_ms / 1000)
    interval = sample_rate * min_interval_ms / 1000
    win = min(round(interval), 4 * hop)
    min_length = round(sample_rate * min_length_ms / 1000 / hop)
    min_interval = round(interval / hop)
    kept = round(sample_rate * max_sil_kept_ms / 1000 / hop)
    n = wav.shape[0]
    if n <= min_length:
        return [Chunk(0, n, False)]
    rms = frame_rms(wav, win, hop)
    tags: list[tuple[int, int]] = []
    silence_start, clip_start = None, 0
    for i, level in enumerate(rms):
        if level < threshold:
            if silence_start is None:
                silence_start = i
            continue
        if silence_start is None:
            continue
        leading = silence_start == 0 and i > kept
        middle = i - silence_start >= min_interval and i - clip_start >= min_length
        if not leading and not middle:
            silence_start = None
            continue
        quietest = lambda a, b: int(rms[a:b].argmin()) + a  # noqa: E731
        if i - silence_start <= kept:
            pos = quietest(silence_start, i + 1)
            tags.append((0, pos) if silence_start == 0 else (pos, pos))
            clip_start = pos
        elif i - silence_start <= kept * 2:
            pos = int(rms[i - kept:silence_start + kept + 1].argmin()) + i - kept
            pos_l, pos_r = quietest(silence_start, silence_start + kept + 1), quietest(i - kept, i + 1)
            if silence_start == 0:
                tags.append((0, pos_r))
                clip_start = pos_r
            else:
                tags.append((min(pos_l, pos), max(pos_r, pos)))
                clip_start = max(pos_r, pos)
        else:
            pos_l, pos_r = quietest(silence_start, silence_start + kept + 1), quietest(i - kept, i + 1)
            tags.append((0, pos_r) if silence_start == 0 else (pos_l, pos_r))
            clip_start = pos_r
        silence_start = None
    total = rms.shape[0]
    if silence_start is not None and total - silence_start >= min_interval:
        end = min(total, silence_start + kept)
        tags.append((int(rms[silence_start:end + 1].argmin()) + silence_start, total + 1))
    if not tags:
        return [Chunk(0, n, False)]
    chunks = []
    if tags[0][0]:
        chunks.append(Chunk(0, min(n, tags[0][0] * hop), False))
    for i, (a, b) in enumerate(tags):
        if i:
            chunks.append(Chunk(tags[i - 1][1] * hop, min(n, a * hop), False))
        chunks.append(Chunk(a * hop, min(n, b * hop), True))
    if tags[-1][1] * hop < n:
        chunks.append(Chunk(tags[-1][1] * hop, n, False))
    return chunks


def pad_center(x: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad `x` to `length`, the extra split evenly (left gets the smaller half); longer is kept."""
    if x.shape[0] >= length:
        return x
    left = (length - x.shape[0]) // 2
    return np.pad(x, (left, length - x.shape[0] - left))


def pcm16_as_written(x: np.ndarray) -> np.ndarray:
    """`x` as a 16-bit WAV written by soundfile (libsndfile) and read back as float: upstream hands each
    padded chunk to its converter through such a file. libsndfile scales to 32-bit, rounds, and drops the
    low 16 bits (a floor), clipping at full scale."""
    wide = np.clip(np.rint(np.asarray(x, np.float64) * 2.0 ** 31), -2.0 ** 31, 2.0 ** 31 - 1)
    return (np.floor(wide / 65536.0) / 32768.0).astype(np.float32)


@dataclass(frozen=True)
class Slicing:
    slice_db: float = -40.0
    pad_seconds: float = 0.5
    clip_seconds: float = 0.0       # 0: chunks as the slicer gives them
    crossfade_seconds: float = 0.0  # between forced clips
    crossfade_retain: float = 0.75  # share of the crossfade region actually blended


def _forced_clips(data: np.ndarray, size: int, overlap: int) -> list[np.ndarray]:
    """Pieces of `size` samples, each after the first starting `overlap` samples early."""
    return [data[i - overlap if i - overlap >= 0 else i:i + size] for i in range(0, len(data), size)]


def model_frames(wav: np.ndarray, chunks: list[Chunk], sample_rate: int, target_rate: int, hop: int,
                 slicing: Slicing) -> int:
    """Upstream's frame count for a speaker-mix track over the whole input (slice_inference's estimate:
    silent chunks at their output length, each padded piece at its unresampled padding, one spare frame
    per chunk)."""
    total, lg_size = 0, int(slicing.crossfade_seconds * sample_rate)
    per_size, pad = int(slicing.clip_seconds * sample_rate), int(sample_rate * slicing.pad_seconds)
    for chunk in chunks:
        data = wav[chunk.start:chunk.end]
        if data.shape[0] == 0:
            continue
        if chunk.silent:
            total += int(math.ceil(len(data) / sample_rate * target_rate)) // hop
            continue
        for piece in (_forced_clips(data, per_size, lg_size) if per_size else [data]):
            total += (int(math.ceil(len(piece) / sample_rate * target_rate)) + 2 * pad) // hop
    return total + sum(1 for c in chunks if c.end > c.start)


def convert_sliced(wav: np.ndarray, sample_rate: int, target_rate: int, slicing: Slicing,
                   convert: Callable[[np.ndarray], np.ndarray], chunks: list[Chunk] | None = None,
                   silence: Callable[[int], None] | None = None) -> tuple[np.ndarray, list[Chunk]]:
    """Upstream `slice_inference` around `convert` (padded chunk at `sample_rate` -> audio at
    `target_rate`; `silence` hears each silent chunk's output length): returns the whole output at
    target_rate and the slicer's chunks (`chunks`: already sliced)."""
    chunks = slice_silence(wav, sample_rate, slicing.slice_db) if chunks is None else chunks
    per_size = int(slicing.clip_seconds * sample_rate)
    lg_size = int(slicing.crossfade_seconds * sample_rate)
    lg_r = int(lg_size * slicing.crossfade_retain)
    lg_l = (lg_size - lg_r) // 2
    lg_rr = lg_size - lg_r - lg_l
    ramp = np.linspace(0, 1, lg_r)
    pad_in, pad_out = int(sample_rate * slicing.pad_seconds), int(target_rate * slicing.pad_seconds)
    out: list[np.ndarray] = []
    kept = 0  # samples of `out` so far
    for chunk in chunks:
        data = wav[chunk.start:chunk.end]
        if data.shape[0] == 0:
            continue
        length = int(math.ceil(len(data) / sample_rate * target_rate))
        if chunk.silent:
            out.append(np.zeros(length))
            kept += length
            if silence is not None:
                silence(length)
            continue
        pieces = _forced_clips(data, per_size, lg_size) if per_size else [data]
        for k, piece in enumerate(pieces):
            piece_length = int(math.ceil(len(piece) / sample_rate * target_rate)) if per_size else length
            padded = pcm16_as_written(np.concatenate([np.zeros(pad_in), piece, np.zeros(pad_in)]))
            audio = np.asarray(convert(padded), np.float64)
            # upstream slices [pad:-pad], which is empty for pad 0; with no pad nothing is trimmed here
            audio = pad_center(audio[pad_out:audio.shape[0] - pad_out], piece_length)
            if lg_size and k:
                whole = np.concatenate(out) if len(out) > 1 else out[0]
                fade_start = kept - (lg_r + lg_rr)
                blended = whole[fade_start:kept - lg_rr] * (1 - ramp) + audio[lg_l:lg_l + lg_r] * ramp
                out, kept = [whole[:fade_start], blended], fade_start + blended.shape[0]
                audio = audio[lg_l + lg_r:]
            out.append(audio)
            kept += audio.shape[0]
    return (np.concatenate(out) if out else np.zeros(0)).astype(np.float32), chunks
