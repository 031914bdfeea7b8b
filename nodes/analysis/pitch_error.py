"""analysis.pitch_error: how far one stage's pitch is from another's (e.g. a conversion from its
source, after the shift it was asked for): f0 RMSE in cents and voicing agreement, frame by frame."""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from haysay.graph_engine.contract import AUDIO, F0_T, Port, node
from haysay.graph_engine.values import F0, Audio, Metrics, PortType
from haysay.nodes.analysis.f0 import _to_grid, extract_f0
from haysay.nodes.analysis.measure import report
from haysay.nodes.analysis.pitch import Fmax, Fmin, HopMs, check_f0_range

GROSS_CENTS = 50.0  # a frame further off than a quarter tone (after the expected shift) is a gross error


def compare_f0(track: F0, reference: F0, expected_shift: float = 0.0, hop_seconds: float = 0.01) -> dict[str, float]:
    """Figures of `track` against `reference`, both put on one grid of `hop_seconds` over their common
    span. Cents are 1200 log2(track / reference) on frames both call voiced; `shift_cents` is their
    median (the shift actually applied), `rmse_cents` and `gross_errors` are taken after removing
    `expected_shift` semitones. `voicing_agreement` counts every frame of the common span."""
    end = min(float(track.times[-1]) if track.times.size else 0.0,
              float(reference.times[-1]) if reference.times.size else 0.0)
    times = np.arange(int(round(end / hop_seconds)) + 1) * hop_seconds
    hz_a, _ = _to_grid(track.times, track.hz, track.confidence, times)
    hz_b, _ = _to_grid(reference.times, reference.hz, reference.confidence, times)
    va, vb = hz_a > 0, hz_b > 0
    both = va & vb
    out = {"voicing_agreement": float(np.mean(va == vb)) if times.size else 0.0,
           "voiced_frames": float(both.sum()), "frames": float(times.size)}
    if both.any():
        cents = 1200.0 * np.log2(hz_a[both] / hz_b[both])
        off = cents - 100.0 * expected_shift
        out.update(shift_cents=float(np.median(cents)), rmse_cents=float(np.sqrt(np.mean(off ** 2))),
                   gross_errors=float(np.mean(np.abs(off) > GROSS_CENTS)))
    return out


class PitchErrorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expected_shift: float = Field(0.0, ge=-48.0, le=48.0,
                                  description="The shift the audio should have against the reference (e.g. the "
                                              "conversion's pitch shift); taken out before the error is measured",
                                  json_schema_extra={"unit": "semitones"})
    method: Literal["praat", "harvest", "dio", "crepe", "fcpe"] = Field(
        "praat", description="Pitch tracker for audio inputs (f0 inputs are used as they are)")
    hop_ms: HopMs = 10.0
    fmin: Fmin = 50.0
    fmax: Fmax = 1100.0

    _range = model_validator(mode="after")(check_f0_range)


def _track(params: PitchErrorParams, audio: Audio | None, f0: F0 | None, audio_port: str, f0_port: str) -> F0:
    if (audio is None) == (f0 is None):
        raise ValueError(f"{audio_port}: connect either `{audio_port}` (audio) or `{f0_port}` (a pitch track), "
                         f"{'not both' if audio is not None else 'one of them is needed'}")
    if f0 is not None:
        return f0
    return extract_f0(audio.mono(), audio.sample_rate, params.method, params.hop_ms / 1000.0, params.fmin, params.fmax)


@node("analysis.pitch_error",
      inputs=[Port("audio", AUDIO, optional=True, description="The stage to judge (e.g. the conversion)"),
              Port("reference", AUDIO, optional=True, description="The stage it is judged against (e.g. the source)"),
              Port("f0", F0_T, optional=True, description="Pitch track of the stage to judge, instead of its audio"),
              Port("reference_f0", F0_T, optional=True, description="Pitch track of the reference, instead of its audio")],
      outputs={"metrics": PortType.METRICS}, params=PitchErrorParams, category="analysis", title="Pitch error",
      memory_mb=512, memory=32.0, tags=("pitch", "f0", "evaluation"))  # as analysis.pitch; measured 10.8 (praat)
def pitch_error(params: PitchErrorParams, ctx, audio: Audio | None = None, reference: Audio | None = None,
                f0: F0 | None = None, reference_f0: F0 | None = None) -> Metrics:
    """Compare two pitch tracks frame by frame: the shift measured (median cents), the RMSE in cents
    left after the expected shift, the share of gross (> 50 cent) errors and how often the two agree
    on which frames are voiced. Both stages should keep the same timing (no time stretch between)."""
    a = _track(params, audio, f0, "audio", "f0")
    b = _track(params, reference, reference_f0, "reference", "reference_f0")
    values = compare_f0(a, b, params.expected_shift, params.hop_ms / 1000.0)
    units = {"shift_cents": "cents", "rmse_cents": "cents", "gross_errors": "ratio", "voicing_agreement": "ratio"}
    return report(ctx, Metrics(values, units))
