"""audio.separate: split a song into vocals and accompaniment with Demucs (htdemucs family).

Weights come from the model manager (`haysay models install FOLDER --arch demucs`) or a path, in
either of Demucs' own layouts:

- a bag: `NAME.yaml` (`models: [sig, ...]`, optional `weights`, `segment`) beside one `SIG-CHECKSUM.th`
  per model (the layout `demucs --repo` reads and `demucs.states.save_with_checksum` writes), or
  beside `SIG.safetensors` files (the layout of Demucs' Hugging Face repositories);
- a single model file, `.th` or `.safetensors`.

Nothing is unpickled freely: a `.th` is `torch.save` of `{klass, args, kwargs, state, ...}` and is read
with `torch.load(weights_only=True)`, where the only classes admitted are Demucs' network classes and
`fractions.Fraction` (the `segment` argument); a `.safetensors` names its class in its metadata, which
must be one of the same classes (never an arbitrary import). Separation is upstream's: the mixture is
converted to the model's rate and channels (`demucs.audio.convert_audio`), normalised as
`demucs.api.Separator` does, and run through `demucs.apply.apply_model`.
"""
from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio
from haysay.nodes.vc.resolve import ModelRefError, content_digest, file_size, pooled, resolve_model

# torch and demucs are imported where the node runs: registering it stays light
ARCHITECTURE = "demucs"
NETWORK_CLASSES = {"demucs.htdemucs.HTDemucs", "demucs.hdemucs.HDemucs", "demucs.demucs.Demucs"}
INSTALL_HINT = ("install Demucs weights (a folder with NAME.yaml and its SIG-CHECKSUM.th or SIG.safetensors "
                "files, or one .th) with `haysay models install PATH --arch demucs`, or give their path")


class SeparateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field("htdemucs", min_length=1, validate_default=True,
                       description="Installed Demucs model name, or path to its folder, .yaml, .th or .safetensors")
    stem: str = Field("vocals", min_length=1, description="The source sent to the vocals output")
    accompaniment: Literal["add", "minus"] = Field(
        "add", description="add: the sum of the other sources (demucs --two-stems); minus: the mixture less "
                           "the stem, so vocals + accompaniment is exactly the (converted) mixture")
    shifts: int = Field(1, ge=0, le=20, description="Random time shifts averaged (demucs --shifts; 0 = one pass)")
    overlap: float = Field(0.25, ge=0.0, lt=1.0, description="Overlap between split segments")
    split: bool = Field(True, description="Separate in segments of the model's length (less memory)")
    segment: float | None = Field(None, gt=0.0, le=600.0, description="Segment length (empty: the model's own)",
                                  json_schema_extra={"unit": "s"})
    seed: int = Field(0, ge=0, description="Seed of the random shifts (the output is reproducible)")

    @field_validator("model")
    @classmethod
    def _installed(cls, v: str) -> str:
        # refused at validation, before anything runs: no demucs package, or weights neither a path nor installed
        import importlib.util

        from pydantic_core import PydanticCustomError

        if importlib.util.find_spec("demucs") is None:
            raise PydanticCustomError("missing_package", "{reason}", {
                "reason": "audio.separate needs the Python package 'demucs' (pip install 'haysay[separate]')"})
        try:
            _resolve(v)
        except ModelRefError as exc:
            raise PydanticCustomError("missing_model", "{reason}", {
                "reason": f"{str(exc).split(': ', 1)[1]}; {INSTALL_HINT}"}) from None
        return v


def _resolve(ref: str):
    """resolve_model, and else the one installed Demucs model detected as `ref` (`haysay models install
    955717e8-8726e21a.th` is installed under that name but detected as htdemucs: see models/detect.py)."""
    try:
        return resolve_model(ref, "model", ARCHITECTURE)
    except ModelRefError:
        from haysay.nodes.vc.resolve import _store
        try:
            named = [m for m in _store().list() if m.architecture == ARCHITECTURE and m.info.get("model") == ref]
        except Exception:  # noqa: BLE001 - an unreadable store: report the name as not installed
            named = []
        if len(named) != 1:
            raise
        return named[0].path, named[0]


def model_files(ref: str) -> Path:
    """The folder or file an installed name or path stands for."""
    path, installed = _resolve(ref)
    return Path(installed.path) if installed is not None else path


def _safe_globals() -> list:
    from fractions import Fraction

    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs
    return [HTDemucs, HDemucs, Demucs, Fraction]


def _klass(name: str, where: str):
    if name not in NETWORK_CLASSES:
        raise ModelRefError("model", f"{where} names the class {name!r}; only Demucs networks "
                                     f"({', '.join(sorted(NETWORK_CLASSES))}) are loaded")
    return {f"{k.__module__}.{k.__qualname__}": k for k in _safe_globals()}[name]


def read_th(path: Path):
    """A model saved by `demucs.states.save_with_checksum(serialize_model(...))`, without free unpickling."""
    import torch
    from demucs.states import load_model

    stem = path.stem
    if "-" in stem:  # SIG-CHECKSUM.th: the checksum is the sha256 prefix of the file, as demucs checks it
        want = stem.rsplit("-", 1)[1]
        got = hashlib.sha256(path.read_bytes()).hexdigest()[:len(want)]
        if got != want:
            raise ModelRefError("model", f"{path.name}: checksum {got} does not match the {want} in its name "
                                         "(a damaged or altered file)")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            package = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - an unpickling refusal names what it met
        raise ModelRefError("model", f"{path.name} is not a Demucs model this loader admits: "
                                     f"{str(exc).splitlines()[0][:300]}") from None
    if not isinstance(package, dict) or not {"klass", "args", "kwargs", "state"} <= set(package):
        raise ModelRefError("model", f"{path.name}: not a Demucs package (klass, args, kwargs, state)")
    klass = package["klass"]
    _klass(f"{getattr(klass, '__module__', '')}.{getattr(klass, '__qualname__', klass)}", path.name)
    if isinstance(package["state"], dict) and package["state"].get("__quantized"):
        raise ModelRefError("model", f"{path.name} is a DiffQ-quantized model (the *_q family), not supported")
    return load_model(package)


def read_safetensors(path: Path):
    """A model in the layout of Demucs' Hugging Face repositories: class and init arguments in the metadata."""
    import json

    from demucs.hf import _decode_json
    from demucs.states import load_model
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if "structure" in meta:
        raise ModelRefError("model", f"{path.name} is a DiffQ-quantized model (the *_q family), not supported")
    if not {"klass", "args", "kwargs"} <= set(meta):
        raise ModelRefError("model", f"{path.name}: no Demucs metadata (klass, args, kwargs)")
    klass = _klass(meta["klass"], path.name)
    return load_model({"klass": klass, "args": _decode_json(json.loads(meta["args"])),
                       "kwargs": _decode_json(json.loads(meta["kwargs"])), "state": tensors})


def _model_file(folder: Path, sig: str) -> Path:
    found = sorted(folder.rglob(f"{sig}.safetensors")) + sorted(folder.rglob(f"{sig}.th")) \
        + sorted(folder.rglob(f"{sig}-*.th"))
    if not found:
        raise ModelRefError("model", f"the bag names model {sig!r} but {folder} has no {sig}.safetensors or "
                                     f"{sig}-*.th")
    return found[0]


def read_file(path: Path):
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    if path.suffix == ".th":
        return read_th(path)
    raise ModelRefError("model", f"{path.name}: a Demucs model is a .th or .safetensors file (or a bag .yaml)")


def load_demucs(path: Path):
    """The network (a BagOfModels) for a folder, bag .yaml or model file."""
    from demucs.apply import BagOfModels

    from haysay.graph_engine.models.checkpoint_limits import read_yaml_config
    from haysay.graph_engine.models.checkpoint_limits import CheckpointError

    path = Path(path)
    if path.is_dir():
        bags = sorted(path.rglob("*.yaml"))
        if len(bags) > 1:
            raise ModelRefError("model", f"{path} holds several bags ({', '.join(b.name for b in bags)}); "
                                         "name the .yaml")
        if not bags:
            files = sorted(path.rglob("*.th")) + sorted(path.rglob("*.safetensors"))
            if len(files) != 1:
                raise ModelRefError("model", f"{path} holds {len(files)} model files and no bag .yaml; "
                                             f"{INSTALL_HINT}")
            return BagOfModels([read_file(files[0])]).eval()
        path = bags[0]
    if path.suffix in (".yaml", ".yml"):
        try:
            bag = read_yaml_config(path, "the bag .yaml does not exist", "a bag lists its models as `models: [sig, ...]`")
        except CheckpointError as exc:
            raise ModelRefError("model", str(exc)) from None
        sigs = bag.get("models")
        if not isinstance(sigs, list) or not sigs or not all(isinstance(s, str) for s in sigs):
            raise ModelRefError("model", f"{path.name}: a bag lists its models as `models: [sig, ...]`")
        models = [read_file(_model_file(path.parent, s)) for s in sigs]
        return BagOfModels(models, bag.get("weights"), bag.get("segment")).eval()
    return BagOfModels([read_file(path)]).eval()


def separate_stems(model: Any, samples: np.ndarray, rate: int, shifts: int = 1, overlap: float = 0.25,
                   split: bool = True, segment: float | None = None, seed: int = 0,
                   device: str = "cpu") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(mixture at the model's rate and channels, {source: samples}) as `demucs.api.Separator` makes them."""
    import torch
    from demucs.apply import apply_model
    from demucs.audio import convert_audio

    wav = convert_audio(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), rate,
                        model.samplerate, model.audio_channels)
    ref = wav.mean(0)
    mean, std = ref.mean(), ref.std() + 1e-8
    state = random.getstate()
    random.seed(seed)  # apply_model draws its shifts from the random module
    try:
        with torch.no_grad():
            out = apply_model(model, ((wav - mean) / std)[None], shifts=shifts, split=split, overlap=overlap,
                              segment=segment, device=device)
    finally:
        random.setstate(state)
    out = (out * std + mean)[0].cpu().numpy().astype(np.float32)
    return wav.numpy().astype(np.float32), dict(zip(model.sources, out))


def _device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


# Measured peak RSS of a full-size HTDemucs (random weights, class defaults, 7.8 s segments, shifts=1) on
# CPU: 833 MB over the loaded network for 10 s of 44.1 kHz stereo, 930 MB for 30 s, i.e. ~790 MB for one
# segment's activations plus 55 B per sample at the model's rate (the whole mixture, its shifted copy and
# four stems). MODEL_MB holds the network (168 MB) and one segment.
BYTES_PER_MODEL_SAMPLE, MODEL_MB = 64.0, 1024


def _memory(params: SeparateParams, shapes) -> float:
    n = sum(s.frames * 44100 / s.sample_rate * 2 for s in shapes.values())  # htdemucs: 44.1 kHz stereo
    return BYTES_PER_MODEL_SAMPLE * n


@node("audio.separate", inputs={"audio": AUDIO}, outputs={"vocals": AUDIO, "accompaniment": AUDIO},
      params=SeparateParams, category="transform", title="Separate (Demucs)", gpu=True, memory_mb=MODEL_MB,
      memory=_memory, shape=lambda p, s: None,  # the model's rate and channels are known once it loads
      fingerprint=lambda p: {"model": content_digest(model_files(p.model))})
def separate(params: SeparateParams, audio: Audio, ctx):
    """Split music into vocals and accompaniment with a Demucs model (htdemucs family). Both come out at
    the model's rate and channels (44.1 kHz stereo for htdemucs)."""
    path = model_files(params.model)
    device = _device()
    model = pooled("demucs", path, device, lambda: load_demucs(path).to(device), 4 * file_size(path), ctx.info)
    if params.stem not in model.sources:
        raise ModelRefError("stem", f"the model has no {params.stem!r} source (it has: {', '.join(model.sources)})")
    mixture, stems = separate_stems(model, audio.numpy(), audio.sample_rate, params.shifts, params.overlap,
                                    params.split, params.segment, params.seed, device)
    vocals = stems[params.stem]
    if params.accompaniment == "minus":
        rest = mixture - vocals
    else:
        rest = np.sum([s for name, s in stems.items() if name != params.stem], axis=0).astype(np.float32)
    return {"vocals": Audio(vocals, model.samplerate), "accompaniment": Audio(rest, model.samplerate)}
