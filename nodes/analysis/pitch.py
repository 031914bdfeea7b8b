"""analysis.pitch: an f0 track from audio (crepe, fcpe, WORLD harvest/dio or Praat)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from haysay.graph_engine.contract import AUDIO, F0_T, node
from haysay.graph_engine.values import F0, Audio
from haysay.nodes.analysis.f0 import extract_f0, rmvpe_checkpoint
from haysay.nodes.vc.resolve import content_digest


HopMs = Annotated[float, Field(title="Frame step", ge=1.0, le=100.0, description="Time between frames",
                               json_schema_extra={"unit": "ms"})]
Fmin = Annotated[float, Field(title="Lowest pitch", ge=20.0, le=1000.0, description="Lowest pitch to look for",
                              json_schema_extra={"unit": "Hz"})]
Fmax = Annotated[float, Field(title="Highest pitch", ge=60.0, le=2000.0, description="Highest pitch to look for",
                              json_schema_extra={"unit": "Hz"})]


def check_f0_range(params):
    """The shared after-validator of pitch-tracking params: the search range must not be empty."""
    if params.fmin >= params.fmax:
        raise ValueError(f"fmin ({params.fmin} Hz) must be below fmax ({params.fmax} Hz)")
    return params


class PitchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["praat", "harvest", "dio", "crepe", "fcpe", "rmvpe"] = Field(
        "praat", description="Estimator: praat (fast, steady), harvest or dio (WORLD), crepe or fcpe (neural), "
                             "rmvpe (neural; needs rmvpe.pt installed)")
    crepe_model: Literal["tiny", "full"] = Field("full", description="CREPE model size (tiny is ~5x faster)")
    hop_ms: HopMs = 10.0
    fmin: Fmin = 50.0
    fmax: Fmax = 1100.0

    _range = model_validator(mode="after")(check_f0_range)


@node("analysis.pitch", inputs={"audio": AUDIO}, outputs={"f0": F0_T}, params=PitchParams, category="analysis",
      title="Pitch (f0)", memory_mb=1024, tags=("pitch", "f0"), memory=32.0,  # measured: 20 B/sample (praat)
      fingerprint=lambda p: {"rmvpe": content_digest(rmvpe_checkpoint("method"))} if p.method == "rmvpe" else {})
def pitch(params: PitchParams, audio: Audio) -> F0:
    """Track the fundamental frequency of the (mono-mixed) audio: Hz per frame, 0 where unvoiced,
    with a confidence. Use it to check a conversion's pitch or to drive a voice model."""
    extra = {"checkpoint": rmvpe_checkpoint("method")} if params.method == "rmvpe" else {}
    return extract_f0(audio.mono(), audio.sample_rate, params.method, params.hop_ms / 1000.0, params.fmin,
                      params.fmax, crepe_model=params.crepe_model, **extra)
