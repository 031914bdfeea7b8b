"""Loading a user's Coqui model folder and speaking with it, through the `coqui-tts` library itself.

The library does the work (`TTS.utils.synthesizer.Synthesizer`, the same object `TTS.api.TTS` uses);
haysay only finds the files, keeps the loaded model warm, seeds it, and bridges three things a fresh
pip install lacks: an `espeak-ng` program (phonemes come from the shipped library, see phonemes.py),
ffmpeg for torchaudio's file decoding (a reference recording is read with soundfile instead, the
rest of Coqui's loader unchanged), and config paths from the machine it was trained on (rewritten to
the folder's own files by Coqui's own `ModelManager._update_paths`, on a copy).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Coqui architectures (config.json "model") this adapter runs; XTTS is the voice-cloning one.
SUPPORTED_MODELS = ("vits", "xtts")
CHECKPOINT_NAMES = ("model.pth", "best_model.pth", "model_file.pth", "checkpoint.pth")
_LOAD_LOCK = threading.Lock()


class CoquiModelError(ValueError):
    """A model folder that is not a Coqui model this adapter can run; the message names the field."""


@dataclass(frozen=True)
class CoquiFiles:
    folder: Path
    config: Path
    checkpoint: Path | None   # None for XTTS: the library loads its folder
    model: str                # "vits" or "xtts"
    config_data: dict

    @property
    def languages(self) -> list[str]:
        langs = self.config_data.get("languages") or []
        return [str(x) for x in langs]

    @property
    def sample_rate(self) -> int:
        audio = self.config_data.get("audio") or {}
        return int(audio.get("output_sample_rate") or audio.get("sample_rate") or 22050)


def find_files(path: Path) -> CoquiFiles:
    """The config and checkpoint of a Coqui model folder (or of the folder of a checkpoint file)."""
    folder = path if path.is_dir() else path.parent
    config = folder / "config.json"
    if not config.is_file():
        raise CoquiModelError(f"model: {folder} has no config.json (a Coqui model folder holds config.json "
                              "and model.pth)")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CoquiModelError(f"model: {config} is not readable JSON ({exc})") from None
    model = str(data.get("model", "")).lower() if isinstance(data, dict) else ""
    if model not in SUPPORTED_MODELS:
        raise CoquiModelError(f"model: config.json names model {model or 'none'!r}; tts.coqui runs "
                              f"{', '.join(SUPPORTED_MODELS)} (VITS/YourTTS and XTTS v2)")
    if model == "xtts":
        missing = [n for n in ("model.pth", "vocab.json") if not (folder / n).is_file()]
        if missing:
            raise CoquiModelError(f"model: the XTTS folder {folder} lacks {', '.join(missing)}")
        return CoquiFiles(folder, config, None, model, data)
    if path.is_file() and path.suffix == ".pth":
        return CoquiFiles(folder, config, path, model, data)
    for name in CHECKPOINT_NAMES:
        if (folder / name).is_file():
            return CoquiFiles(folder, config, folder / name, model, data)
    steps = sorted(folder.glob("checkpoint_*.pth"), key=lambda p: int("".join(c for c in p.stem if c.isdigit()) or 0))
    if steps:  # a training folder: the latest step
        return CoquiFiles(folder, config, steps[-1], model, data)
    raise CoquiModelError(f"model: {folder} has no checkpoint (looked for {', '.join(CHECKPOINT_NAMES)} "
                          "and checkpoint_*.pth)")


def _config_copy(files: CoquiFiles, cache: Path) -> Path:
    """config.json with its paths pointed at the folder's own files, as Coqui's model manager does
    after a download, written to a copy (the user's or installed files are never modified)."""
    from TTS.utils.manage import ModelManager

    digest = hashlib.sha256(files.config.read_bytes() + str(files.folder.resolve()).encode()).hexdigest()[:16]
    out = cache / digest / "config.json"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.json")
        shutil.copyfile(files.config, tmp)
        ModelManager._update_paths(ModelManager.__new__(ModelManager), files.folder, tmp)
        os.replace(tmp, out)
    return out


def _soundfile_loader() -> None:
    """XTTS reads reference audio with torchaudio.load, which needs ffmpeg; read it with soundfile and
    keep the rest of Coqui's `load_audio` (mono mix, torchaudio resample, clip) as it is."""
    import soundfile as sf
    import torch
    import torchaudio
    from TTS.tts.models import xtts

    if getattr(xtts.load_audio, "_haysay", False):
        return

    def load_audio(audiopath, sampling_rate):
        data, lsr = sf.read(str(audiopath), dtype="float32", always_2d=True)
        audio = torch.from_numpy(np.ascontiguousarray(data.T))
        if audio.size(0) != 1:
            audio = torch.mean(audio, dim=0, keepdim=True)
        if lsr != sampling_rate:
            audio = torchaudio.functional.resample(audio, lsr, sampling_rate)
        audio.clip_(-1, 1)
        return audio

    load_audio._haysay = True
    xtts.load_audio = load_audio


def load_synthesizer(files: CoquiFiles, device: str, cache: Path) -> Any:
    """Coqui's Synthesizer for the folder, on `device`."""
    from haysay.nodes.tts.coqui.phonemes import install_library_espeak

    with _LOAD_LOCK:
        install_library_espeak()
        _soundfile_loader()
        from TTS.utils.synthesizer import Synthesizer

        config = _config_copy(files, cache)
        _check_companions(files, config)
        weights = files.checkpoint or files.folder / "model.pth"
        _check_checkpoint(weights)
        ckpt = files.folder if files.model == "xtts" else files.checkpoint
        try:
            return Synthesizer(tts_checkpoint=ckpt, tts_config_path=config, use_cuda=device == "cuda")
        except KeyError as exc:  # Coqui's load_checkpoint reads state["model"]
            raise CoquiModelError(f"model: {weights.name} is not a Coqui checkpoint of this config (no "
                                  f"{exc.args[0]!r} entry)") from None
        except (RuntimeError, ValueError, OSError) as exc:  # state dict that does not fit, unreadable file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CoquiModelError(f"model: {weights.name} does not load as this config's "
                                  f"{files.model.upper()} ({first[:300]})") from None


# config entries naming companion files (top level or under model_args), and what each holds
_COMPANIONS = {"speakers_file": "speaker ids", "d_vector_file": "speaker embeddings",
               "language_ids_file": "language ids"}


def _check_companions(files: CoquiFiles, config: Path) -> None:
    """Every speakers / d-vector / language file the (path-updated) config names exists."""
    data = json.loads(config.read_text(encoding="utf-8"))
    for section in (data, data.get("model_args") or {}):
        for key, what in _COMPANIONS.items():
            names = section.get(key)
            for name in names if isinstance(names, list) else [names]:
                if isinstance(name, str) and name and not Path(name).is_file():
                    raise CoquiModelError(f"model: config.json's {key} names {Path(name).name} ({what}), which "
                                          f"is not in {files.folder.name}")


def _check_checkpoint(path: Path) -> None:
    """A missing, truncated or oversized checkpoint is refused naming the file, before Coqui loads it
    (Coqui loads with weights_only=True itself)."""
    from haysay.graph_engine.models.checkpoint_limits import CheckpointError, check_checkpoint

    if not path.is_file():
        raise CoquiModelError(f"model: {path.name} is not in {path.parent.name}")
    try:
        check_checkpoint(path)
    except CheckpointError as exc:
        raise CoquiModelError(f"model: {path.name}: {exc.problem}") from None


def language_problem(files: CoquiFiles, language: str) -> str | None:
    """Why an XTTS model cannot speak `language` ("language: ..."), or None."""
    if files.model == "xtts" and language and language not in files.languages:
        return f"language: {language!r} is not one of the model's languages ({', '.join(files.languages)})"
    return None


def speakers_of(synth: Any) -> list[str]:
    manager = getattr(synth.tts_model, "speaker_manager", None)
    if manager is None:
        return []
    names = list(getattr(manager, "name_to_id", {}) or {})
    if not names and hasattr(manager, "speakers"):
        names = list(manager.speakers or {})
    return [str(n) for n in names]


def synthesize(synth: Any, files: CoquiFiles, text: str, *, speaker: str = "", language: str = "",
               reference: tuple[np.ndarray, int] | None = None, speed: float = 1.0,
               temperature: float | None = None, seed: int = 0, split_sentences: bool = True) -> np.ndarray:
    """Mono float32 speech at the model's output rate, exactly as `Synthesizer.tts` makes it, with
    torch's generator seeded (restored afterwards) so the same request gives the same audio."""
    import soundfile as sf
    import torch

    model = synth.tts_model
    speakers = speakers_of(synth)
    kwargs: dict[str, Any] = {}
    if files.model == "xtts":
        kwargs["speed"] = float(speed)
        if temperature is not None:
            kwargs["temperature"] = float(temperature)
        language = language or "en"
        problem = language_problem(files, language)
        if problem:
            raise ValueError(problem)
    elif language and getattr(model, "language_manager", None) is None:
        raise ValueError("language: this model speaks one language; leave language empty")
    if speaker and speaker not in speakers:
        raise ValueError(f"speaker: {speaker!r} is not a speaker of this model "
                         f"({', '.join(speakers[:20]) or 'it has none'})")
    if files.model == "xtts" and not speaker and reference is None:
        if not speakers:
            raise ValueError("speaker: XTTS needs reference audio (the speaker input) or a stored speaker "
                             "(speakers_xtts.pth)")
        speaker = speakers[0]
    with tempfile.TemporaryDirectory(prefix="haysay-coqui-") as tmp:
        wav_path = None
        if reference is not None:
            wav_path = str(Path(tmp) / "reference.wav")
            sf.write(wav_path, reference[0], reference[1], subtype="FLOAT")
        old_length = getattr(model, "length_scale", None)
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            try:
                if files.model != "xtts" and old_length is not None:
                    model.length_scale = old_length / float(speed)  # VITS: longer phonemes are slower speech
                wav = synth.tts(text, speaker_name=speaker or None, language_name=language or None,
                                speaker_wav=wav_path, split_sentences=split_sentences, **kwargs)
            finally:
                if old_length is not None:
                    model.length_scale = old_length
    return np.asarray(wav, dtype=np.float32)
