"""RVC conversion delivered segment by segment, so a listener can start before the whole file is done.

The input is whole (a file, not a microphone): the steps upstream runs over the whole input (peak limit,
high-pass, quiet-point cuts, pitch track) run first, as `convert_rvc` runs them; then each segment's
content features and synthesis run with upstream's context padding and are delivered as they finish.
The loudness-envelope mix is the whole-file one, applied as soon as the half-second RMS frames a sample
depends on are known (about a second behind the converted audio); resampling streams through soxr.
By default the cuts grow (`GrowingCuts`): a short first segment, so the first second is heard soon,
then each segment longer than the last, so fewer segments recompute their padding; given `settings`
alone, the stream cuts where `convert_rvc` at those settings cuts, and its blocks concatenate to
`convert_rvc`'s output, with one exception: upstream scales the whole output down
when its peak passes 0.99, which a stream cannot do to blocks already delivered, so a stream scales each
block by the running peak instead (equal whenever the whole output's peak stays at or under 0.99).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
import torch
from torch.nn import functional as F

from haysay.nodes.vc.content.hubert import BASE_CONV, ContentEncoder
from haysay.nodes.vc.retrieval import FeatureIndex
from haysay.nodes.vc.rvc.models import RVCSynthesizer
from haysay.nodes.vc.rvc.pipeline import (SR, WINDOW, DeviceSettings, RVCOptions, _frame_rms, convert_segments,
                                          prepare, segment_spans)

# Upstream's CPU padding (1 s each side of a segment) with cuts about every 2.5 s instead of 38 s: the
# first segment, and so the first second delivered, costs about 4.5 s of input to convert.
STREAM_SETTINGS = DeviceSettings(False, 1, 0.5, 2.5, 3)


@dataclass(frozen=True)
class GrowingCuts:
    """Where a stream cuts (seconds): the first cut at the quietest 10 ms of [first, first + search], each
    later step `growth` times the one before, up to `longest`, cut at the quietest point of its window.
    The loudness mix holds back about half a second behind the converted audio, so a first segment of
    about 1.6 s delivers the first second."""
    first: float = 1.6
    growth: float = 2.0
    longest: float = 8.0
    search: float = 0.4

    def cut_points(self, audio: np.ndarray) -> list[int]:
        padded = np.pad(audio, (WINDOW // 2, WINDOW // 2), mode="reflect")
        energy = np.convolve(np.abs(padded), np.ones(WINDOW), mode="valid")[:audio.size]
        cuts, t, step = [], int(SR * self.first), self.first
        while True:
            width = int(SR * min(self.search, step / 4))
            if t + width + SR // 2 >= audio.size:  # the last segment: at least half a second
                return cuts
            cut = t + int(np.argmin(energy[t:t + width + 1]))
            cuts.append(cut)
            step = min(self.longest, step * self.growth)
            t = cut + int(SR * step)


STREAM_CUTS = GrowingCuts()


@dataclass(frozen=True)
class StreamBlock:
    audio: np.ndarray   # mono float32 at `sample_rate`
    sample_rate: int
    start: int          # first sample's position in the whole output
    total: int          # the whole output's length (samples), known before the first block
    segment: int        # segments converted when this block was delivered
    segments: int       # segments in all


def encoder_frames(encoder: ContentEncoder, samples: int) -> int:
    """Frames the content encoder's convolutional front end gives for `samples` 16 kHz samples."""
    for _dim, kernel, stride in getattr(getattr(encoder, "cfg", None), "conv_layers", BASE_CONV):
        samples = max(0, (samples - kernel) // stride + 1)
    return samples


class _EnvelopeMix:
    """`change_rms` over an output that arrives in parts: exact for every sample whose two interpolated
    RMS frames (source and converted) are complete, which is as far as `ready` lets `take` go."""

    def __init__(self, source: np.ndarray, total: int, sr: int, rate: float):
        self.total, self.sr, self.rate = total, sr, rate
        self.target = np.zeros(total, np.float32)
        self.filled = self.sent = 0
        self.frames = 1 + total // (sr // 2)
        self.rms1 = F.interpolate(_frame_rms(source, SR)[None], size=total, mode="linear").squeeze()

    def push(self, part: np.ndarray) -> None:
        self.target[self.filled:self.filled + part.size] = part
        self.filled += part.size

    def ready(self) -> int:
        """Samples whose gain is final: frame k needs the converted audio to k * hop + hop."""
        if self.filled >= self.total:
            return self.total
        hop = self.sr // 2
        complete = max(0, (self.filled - hop) // hop + 1)  # frames 0..complete-1 see only converted audio
        if complete >= self.frames:
            return self.total
        # sample j reads frames floor(src) and floor(src) + 1, src = (j + 0.5) * frames / total - 0.5;
        # two samples' margin keeps float32 rounding of src from reaching an incomplete frame
        j = int(np.floor((complete - 1 + 0.5) * self.total / self.frames - 0.5)) - 2
        return max(self.sent, min(self.total, j))

    def take(self, end: int) -> np.ndarray:
        rms2 = F.interpolate(_frame_rms(self.target, self.sr)[None], size=self.total, mode="linear").squeeze()
        rms2 = torch.clamp(rms2, min=1e-6)
        # over the whole length, then cut: torch's vectorised pow rounds a slice's unaligned head otherwise
        gain = torch.pow(self.rms1, torch.tensor(1 - self.rate)) * torch.pow(rms2, torch.tensor(self.rate - 1))
        sl, self.sent = slice(self.sent, end), end
        return (self.target[sl] * gain.numpy()[sl]).astype(np.float32)


def stream_rvc(audio16k: np.ndarray, model: RVCSynthesizer, version: str, encoder: ContentEncoder,
               opts: RVCOptions, index: FeatureIndex | None = None, device: str = "cpu",
               settings: DeviceSettings | None = None, cuts: GrowingCuts | None = None) -> Iterator[StreamBlock]:
    """Yield the conversion of mono 16 kHz speech as blocks, one or more per converted segment, in order.

    `settings` default: STREAM_SETTINGS (padding) with `cuts` default STREAM_CUTS (growing segments).
    Given `settings` and no `cuts`, the stream has the segments of `convert_rvc` at those settings, and
    with them its output (see the module docstring for the peak limit)."""
    import soxr

    if settings is None:
        settings, cuts = STREAM_SETTINGS, cuts or STREAM_CUTS
    prep = prepare(audio16k, model, opts, device, settings)
    if cuts is not None:
        prep = replace(prep, cuts=cuts.cut_points(prep.audio))
    tgt_sr, hop = model.cfg.sr, model.cfg.sr // 100
    spans = segment_spans(prep)
    # the decoder gives `hop` samples per 10 ms frame, and a segment has as many frames as its features
    lengths = []
    for seg_sl, _sl in spans:
        size = prep.audio_pad[seg_sl].size
        frames = min(size // WINDOW, 2 * encoder_frames(encoder, size)) * hop
        lengths.append(frames - 2 * prep.t_pad_tgt if frames > 2 * prep.t_pad_tgt else 0)
    total = sum(lengths)
    mix = _EnvelopeMix(prep.audio, total, tgt_sr, opts.rms_mix_rate) if opts.rms_mix_rate != 1 and total else None
    out_sr = opts.resample_sr if tgt_sr != opts.resample_sr >= 16000 else tgt_sr
    out_total = int(np.ceil(total * float(out_sr) / tgt_sr))
    resampler = soxr.ResampleStream(tgt_sr, out_sr, 1, dtype="float32", quality="HQ") if out_sr != tgt_sr else None
    peak, start = 0.99, 0

    def deliver(block: np.ndarray, last: bool, done: int) -> StreamBlock | None:
        nonlocal peak, start
        if resampler is not None:
            block = resampler.resample_chunk(block, last=last)
            block = block[:max(0, out_total - start)]
            if last and start + block.size < out_total:
                block = np.pad(block, (0, out_total - start - block.size))
        if not block.size:
            return None
        peak = max(peak, float(np.max(np.abs(block))))
        block = block / (peak / 0.99) if peak > 0.99 else block
        out = StreamBlock(block.astype(np.float32), out_sr, start, out_total, done, len(spans))
        start += block.size
        return out

    parts = convert_segments(prep, model, version, encoder, opts, index, device)
    for done, (part, want) in enumerate(zip(parts, lengths), 1):
        if part.size != want:
            raise RuntimeError(f"segment {done}: the decoder gave {part.size} samples where {want} were expected")
        last = done == len(spans)
        if mix is None:
            ready = part.astype(np.float32)
        else:
            mix.push(part)
            ready = mix.take(mix.ready())
        block = deliver(ready, last, done)
        if block is not None:
            yield block
