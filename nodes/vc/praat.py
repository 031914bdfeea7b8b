"""vc.praat: Praat's "Change gender" (PSOLA pitch/duration plus resampling formant shift) via parselmouth."""
from __future__ import annotations

import warnings

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio


def praat_median_pitch(samples: np.ndarray, sample_rate: int, pitch_floor: float = 75.0,
                       pitch_ceiling: float = 600.0) -> float:
    """Median f0 (Hz) of the voiced frames as Praat's "Change gender" measures it; 0 when nothing is voiced."""
    import parselmouth

    pitch = parselmouth.Sound(np.asarray(samples, dtype=np.float64), sampling_frequency=sample_rate).to_pitch_ac(
        pitch_floor=pitch_floor, pitch_ceiling=pitch_ceiling)
    hz = pitch.selected_array["frequency"]
    voiced = hz[hz > 0]
    return float(np.median(voiced)) if voiced.size else 0.0


def change_gender(samples: np.ndarray, sample_rate: int, formant_shift_ratio: float = 1.0,
                  new_pitch_median: float = 0.0, pitch_shift: float = 0.0, pitch_range_factor: float = 1.0,
                  duration_factor: float = 1.0, pitch_floor: float = 75.0, pitch_ceiling: float = 600.0) -> np.ndarray:
    """Praat "Change gender" on one mono signal; returns float32 samples at the same rate.

    new_pitch_median: target median f0 in Hz (0 keeps the original, after `pitch_shift` semitones);
    pitch_range_factor scales excursions around the median; duration_factor >1 lengthens.
    """
    import parselmouth
    from parselmouth.praat import call

    x = np.asarray(samples, dtype=np.float64)
    if x.size < sample_rate * 0.05:
        return x.astype(np.float32)  # shorter than one pitch-analysis window: nothing to convert
    target = float(new_pitch_median)
    if target == 0.0 and pitch_shift != 0.0:
        median = praat_median_pitch(x, sample_rate, pitch_floor, pitch_ceiling)
        target = median * 2.0 ** (pitch_shift / 12.0) if median > 0 else 0.0
    sound = parselmouth.Sound(x, sampling_frequency=sample_rate)
    with warnings.catch_warnings():
        # Praat warns when a clip has no voiced part; unvoiced audio then passes through resampled only
        warnings.simplefilter("ignore", parselmouth.PraatWarning)
        out = call(sound, "Change gender", pitch_floor, pitch_ceiling, formant_shift_ratio, target,
                   pitch_range_factor, duration_factor)
    y = np.asarray(out.values, dtype=np.float64).mean(axis=0)
    if int(round(out.sampling_frequency)) != sample_rate:
        import soxr
        y = soxr.resample(y, out.sampling_frequency, sample_rate)
    return y.astype(np.float32)


class PraatParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    formant_shift_ratio: float = Field(1.0, ge=0.5, le=2.0, description="New/old formant frequencies "
                                                                        "(1.1-1.2 male to female, 0.8-0.9 female to male)",
                                       json_schema_extra={"unit": "x"})
    new_pitch_median: float = Field(0.0, ge=0.0, le=1000.0, description="Target median pitch; 0 keeps the original "
                                                                         "(then shifted by pitch_shift)",
                                    json_schema_extra={"unit": "Hz"})
    pitch_shift: float = Field(0.0, ge=-24.0, le=24.0, description="Pitch shift applied when new_pitch_median is 0",
                               json_schema_extra={"unit": "semitones"})
    pitch_range_factor: float = Field(1.0, ge=0.0, le=4.0, description="Intonation range around the median "
                                                                       "(0 monotone, 1 unchanged)",
                                      json_schema_extra={"unit": "x"})
    duration_factor: float = Field(1.0, ge=0.25, le=3.0, description="Length factor (above 1 slower, below 1 faster)",
                                   json_schema_extra={"unit": "x"})
    pitch_floor: float = Field(75.0, ge=20.0, le=500.0, description="Lowest pitch analysed",
                               json_schema_extra={"unit": "Hz"})
    pitch_ceiling: float = Field(600.0, ge=100.0, le=2000.0, description="Highest pitch analysed",
                                 json_schema_extra={"unit": "Hz"})

    @model_validator(mode="after")
    def _range(self) -> "PraatParams":
        if self.pitch_floor >= self.pitch_ceiling:
            raise ValueError(f"pitch_floor ({self.pitch_floor} Hz) must be below pitch_ceiling ({self.pitch_ceiling} Hz)")
        if self.new_pitch_median and not self.pitch_floor <= self.new_pitch_median <= self.pitch_ceiling:
            raise ValueError(f"new_pitch_median ({self.new_pitch_median} Hz) must lie between pitch_floor and "
                             f"pitch_ceiling ({self.pitch_floor}-{self.pitch_ceiling} Hz), or be 0 to keep it")
        return self


@node("vc.praat", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=PraatParams, category="vc",
      title="Praat change gender", memory_mb=512, tags=("vc", "dsp", "pitch", "formant"),
      memory=48.0)  # measured peak: 36 B per input sample
def praat(params: PraatParams, audio: Audio, ctx) -> Audio:
    """Praat's classic "Change gender": shift formants, set the median pitch (or shift it in semitones),
    widen or flatten the intonation and change the tempo. No model needed."""
    data = audio.numpy()
    channels = []
    for ch in range(audio.channels):
        channels.append(change_gender(data[ch], audio.sample_rate, params.formant_shift_ratio, params.new_pitch_median,
                                      params.pitch_shift, params.pitch_range_factor, params.duration_factor,
                                      params.pitch_floor, params.pitch_ceiling))
        ctx.progress((ch + 1) / audio.channels, f"channel {ch + 1}/{audio.channels}")
    frames = min(c.size for c in channels)
    return Audio(np.stack([c[:frames] for c in channels]), audio.sample_rate)
