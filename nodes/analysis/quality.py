"""analysis.quality: DNSMOS P.835 estimates of speech quality (Microsoft's ONNX models as shipped by
the `speechmos` package): signal (SIG), background (BAK) and overall (OVRL) MOS on a 1-5 scale,
plus the P.808 overall figure."""
from __future__ import annotations

import threading

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio, Metrics, PortType
from haysay.nodes.analysis.measure import mono_at, package_versions, report, require

require("speechmos", "onnxruntime", "librosa")  # models inside these wheels; without them the node is left out

RATE = 16000  # DNSMOS scores 9.01 s windows at 16 kHz, hopping 1 s
_LOCK = threading.Lock()  # speechmos keeps its loaded sessions in a module global


def dnsmos(samples_16k: np.ndarray, personalized: bool = False) -> dict[str, float]:
    """{sig, bak, ovrl, p808} MOS of mono float samples at 16 kHz. A clip shorter than one window
    is repeated to fill it (as upstream does); a clip louder than full scale is scaled into it."""
    from speechmos import dnsmos as upstream

    x = np.asarray(samples_16k, dtype=np.float32)
    if x.size < RATE // 10:
        raise ValueError(f"audio: {x.size / RATE:.3f} s is too short to score (DNSMOS needs at least 0.1 s)")
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        raise ValueError("audio: is digital silence; there is no speech to score")
    if peak > 1.0:  # upstream refuses samples outside [-1, 1]
        x = x / peak
    with _LOCK:
        scores = upstream.run(x, RATE, model_type="dnsmos_personalized" if personalized else "dnsmos")
    return {"sig": float(scores["sig_mos"]), "bak": float(scores["bak_mos"]), "ovrl": float(scores["ovrl_mos"]),
            "p808": float(scores["p808_mos"])}


class QualityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    personalized: bool = Field(False, description="Use the personalized DNSMOS model, which also counts other "
                                                  "talkers in the background as noise")


@node("analysis.quality", inputs={"audio": AUDIO}, outputs={"metrics": PortType.METRICS}, params=QualityParams,
      category="analysis", title="Quality (DNSMOS)", memory_mb=384, memory=16.0,  # measured 8.5 B/sample
      tags=("mos", "evaluation"), fingerprint=package_versions("speechmos"))
def quality(params: QualityParams, audio: Audio, ctx) -> Metrics:
    """Estimate how listeners would rate the speech (DNSMOS, 1 = bad, 5 = excellent): SIG the voice
    itself, BAK the background (noise), OVRL overall, P808 the P.808 overall figure."""
    scores = dnsmos(mono_at(audio, RATE), params.personalized)
    return report(ctx, Metrics(scores, {k: "MOS" for k in scores}))
