"""The so-vits-svc 4.1 `speech_encoder` names: which encoder family, layer and feature size each means.

Plain data (no torch), so a node can check a config's encoder at validation without loading a network.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpeechEncoderSpec:
    family: str             # "hubert" | "hubert_soft" | "wavlm" | "whisper"
    layer: int | None       # transformer layer (1-based); None: the network's final output, as upstream takes it
    final_proj: bool
    dims: int               # upstream's ssl_dim
    files: str              # what to give as content_encoder
    prefer: tuple[str, ...]  # words in an installed encoder's name that mark the right one


_HUBERT_FILES = "ContentVec checkpoint_best_legacy_500.pt, hubert_base.pt or a transformers folder"
SPEECH_ENCODERS: dict[str, SpeechEncoderSpec] = {
    "vec256l9": SpeechEncoderSpec("hubert", 9, True, 256, _HUBERT_FILES, ("contentvec", "vec", "hubert")),
    "vec768l12": SpeechEncoderSpec("hubert", 12, False, 768, _HUBERT_FILES, ("contentvec", "vec", "hubert")),
    "vec256l9-onnx": SpeechEncoderSpec("hubert", 9, True, 256, _HUBERT_FILES, ("contentvec", "vec", "hubert")),
    "vec768l12-onnx": SpeechEncoderSpec("hubert", 12, False, 768, _HUBERT_FILES, ("contentvec", "vec", "hubert")),
    "hubertsoft": SpeechEncoderSpec("hubert_soft", None, True, 256, "hubert-soft-0d54a1f4.pt", ("soft",)),
    "hubertsoft-onnx": SpeechEncoderSpec("hubert_soft", None, True, 256, "hubert-soft-0d54a1f4.pt", ("soft",)),
    "cnhubertlarge": SpeechEncoderSpec(
        "hubert", None, False, 1024, "chinese-hubert-large-fairseq-ckpt.pt or the chinese-hubert-large "
        "transformers folder", ("chinese", "cnhubert", "large")),
    "wavlmbase+": SpeechEncoderSpec("wavlm", None, False, 768, "WavLM-Base+.pt", ("wavlm",)),
    "whisper-ppg": SpeechEncoderSpec("whisper", None, False, 1024, "whisper medium.pt", ("medium", "whisper")),
    "whisper-ppg-large": SpeechEncoderSpec("whisper", None, False, 1280, "whisper large-v2.pt",
                                           ("large-v2", "large", "whisper")),
}
REFUSED = {"dphubert": "DPHuBERT's pruned per-layer widths need their own network, which haysay does not have",
           "vec256l12-onnx": "ONNX-only", "vec768l9-onnx": "ONNX-only"}
_FAMILY_NAMES = {"hubert": "HuBERT/ContentVec", "hubert_soft": "HuBERT-Soft", "wavlm": "WavLM", "whisper": "Whisper"}


def speech_encoder_spec(name: str) -> SpeechEncoderSpec:
    spec = SPEECH_ENCODERS.get(name)
    if spec is None:
        why = f" ({REFUSED[name]})" if name in REFUSED else ""
        raise ValueError(f"speech_encoder {name!r} is not supported{why}; haysay runs "
                         f"{', '.join(sorted(SPEECH_ENCODERS))}")
    return spec
