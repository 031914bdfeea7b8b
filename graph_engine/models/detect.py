"""Which architecture and version a set of model files is, read from the files themselves.

Checkpoints are opened with `torch.load(weights_only=True, mmap=True)` only.
Files that need arbitrary classes to load (fairseq HuBERT/ContentVec with their
argparse/omegaconf configs, so-vits-svc k-means with numpy arrays) are never
unpickled: their pickle opcodes are walked with `pickletools.genops`, which
executes nothing, to read the class names and dict keys they mention.

so-vits-svc's feature_and_index.pkl (a pickled {speaker id: faiss index}) is walked the same way:
only faiss index classes may appear in it, and each index's header is read from its serialised bytes.

Architecture ids (the folder under models/): rvc, sovits, content_encoder,
piper, faiss_index, kmeans, rmvpe, sovits_diffusion, nsf_hifigan, sovits_feature_index, openvoice, demucs, sovits5,
talknet.
File roles in a model: weights, config, index, kmeans, feature_index, diffusion, diffusion_config,
speaker, voice, voice_config, discriminator, singer, durations, pitch, vocoder, superres, other.
"""
from __future__ import annotations

import io
import json
import pickletools
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkpoint_limits import CheckpointError, check_checkpoint
from .errors import DetectionError

ARCHITECTURES = ("rvc", "sovits", "content_encoder", "piper", "faiss_index", "kmeans", "rmvpe", "sovits_diffusion",
                 "nsf_hifigan", "sovits_feature_index", "openvoice", "coqui", "demucs",
                 "sovits5", "talknet", "styletts2", "gpt_sovits")
LOOKED_FOR = ("an RVC .pth (dict with 'weight', 'config', 'f0', 'version')",
              "a so-vits-svc G_*.pth beside its config.json",
              "a content encoder .pt (fairseq HuBERT/ContentVec, HuBERT-Soft, WavLM, Whisper) or a transformers "
              "folder (config.json model_type hubert)",
              "a Piper voice (.onnx + .onnx.json)", "a faiss .index", "a so-vits-svc k-means .pt",
              "an RMVPE pitch model (rmvpe.pt state dict)",
              "a so-vits-svc diffusion model_*.pt beside its config.yaml",
              "an NSF-HiFiGAN vocoder (`model` beside its config.json)",
              "a so-vits-svc feature_and_index.pkl",
              "an OpenVoice converter (checkpoint.pth with ref_enc weights beside its config.json)",
              "a Coqui TTS model (config.json naming vits or xtts, with model.pth)",
              "a Demucs model (SIG-CHECKSUM.th or SIG.safetensors, optionally beside its bag NAME.yaml)",
              "a so-vits-svc 5.0 sovits5.0.pth ('model_g' with dec.adapter weights) beside its config .yaml",
              "a ControllableTalkNet character (TalkNet .nemo archives, hifiganmodel)",
              "a StyleTTS 2 epochs_2nd_*.pth ('net' with bert, predictor, decoder, diffusion) beside its config.yml")
COQUI_MODELS = ("vits", "xtts")  # what tts.coqui runs (nodes/tts/coqui/engine.py SUPPORTED_MODELS)
TRANSFORMERS_ENCODERS = ("hubert", "wav2vec2", "wavlm", "data2vec-audio")
_PICKLE_CAP = 64 << 20
_FAISS_MAGIC_CAP = 4
# State-dict keys only RMVPE's E2E network has: its U-Net's input batch-norm, the conv to 3 channels, the BiGRU.
_RMVPE_KEYS = ("unet.encoder.bn.weight", "cnn.weight", "fc.0.gru.weight_ih_l0", "fc.1.weight")
_DIFFUSION_KEY = "decoder.denoise_fn.input_projection.weight"  # so-vits Unit2Mel's WaveNet denoiser
_NSF_KEYS = ("upsample_rates", "upsample_kernel_sizes", "num_mels", "hop_size", "sampling_rate", "n_fft")
# what a pickled {speaker id: faiss index} may name (nodes/vc/sovits/feature_index.py admits the same)
_INDEX_GLOBALS = re.compile(r"^(faiss(\.swigfaiss\w*)?\.Index\w*|copy_?reg\._reconstructor|(builtins|__builtin__)\.object"
                            r"|_codecs\.encode)$")


@dataclass(frozen=True)
class Detection:
    architecture: str
    version: str | None
    roles: dict[str, str]                    # relative posix path -> role
    info: dict[str, Any] = field(default_factory=dict)


def detect(folder: Path, declared: str | None = None, label: str | None = None) -> Detection:
    """Detect what the files under `folder` are. `declared` (e.g. from --arch or a catalogue)
    must agree with what is found; if nothing is recognised it is trusted, with version unknown.
    `label` names the model in error messages (default: the folder's name)."""
    folder = Path(folder)
    label = label or folder.name
    rels = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    if not rels:
        raise DetectionError(f"{label}: no files to install")
    try:
        found = _detect(folder, rels, label)
    except DetectionError:
        if declared is None:
            raise
        return Detection(declared, None, {r: _generic_role(r) for r in rels}, {"detected": False})
    if declared is not None and declared != found.architecture:
        raise DetectionError(f"{label}: declared architecture {declared!r} but the files are "
                             f"{found.architecture!r} ({', '.join(k for k, v in found.roles.items() if v != 'other')})")
    return found


def _detect(folder: Path, rels: list[str], label: str) -> Detection:
    lower = {r: r.lower() for r in rels}
    piper = [r for r in rels if lower[r].endswith(".onnx") and r + ".json" in lower]
    if piper:
        return _piper(label, folder, rels, piper)
    top_config = folder / "config.json"
    config = _read_json(top_config) if top_config.is_file() else None
    if isinstance(config, dict) and config.get("model_type") in TRANSFORMERS_ENCODERS:
        return _transformers(rels, config)
    if isinstance(config, dict) and str(config.get("model", "")).lower() in COQUI_MODELS \
            and isinstance(config.get("audio"), dict):
        return _coqui(label, rels, config)

    vocoders = [r for r in rels if Path(r).name == "model" and _is_nsf_config(folder / Path(r).parent / "config.json")]
    if vocoders:
        return _nsf_hifigan(folder, rels, vocoders[0])

    talknet = [r for r in rels if lower[r].endswith(".nemo") and _is_talknet_nemo(folder / r)]
    if talknet:
        return _talknet(rels, talknet)
    hifigan = [r for r in rels if not Path(r).suffix and _is_hifigan(folder / r)]
    if hifigan:
        return _hifigan(folder, rels, hifigan)

    demucs = [r for r in rels if lower[r].endswith((".th", ".safetensors")) and _demucs_class(folder / r)]
    if demucs:
        return _demucs(folder, rels, demucs)

    gpt_sovits = {r: _gpt_sovits_role(folder / r) for r in rels if lower[r].endswith((".pth", ".ckpt"))}
    if "weights" in gpt_sovits.values():  # before RVC: a SoVITS .pth also holds 'weight' and 'config'
        return _gpt_sovits(rels, gpt_sovits)
    checkpoints = {r: _load_checkpoint(folder / r) for r in rels if lower[r].endswith(".pth")}
    rvc = [r for r, ck in checkpoints.items() if isinstance(ck, dict) and "weight" in ck and "config" in ck]
    if len(rvc) > 1:
        raise DetectionError(f"{label}: several RVC checkpoints ({', '.join(rvc)}); install them one by one")
    if rvc:
        return _rvc(folder, rels, rvc[0], checkpoints[rvc[0]])
    openvoice = [r for r, ck in checkpoints.items() if _is_openvoice(ck)]
    if openvoice:
        return _openvoice(folder, label, rels, openvoice, checkpoints)
    styletts2 = [r for r, ck in checkpoints.items() if _is_styletts2(ck)]
    if styletts2:
        return _styletts2(folder, label, rels, styletts2)
    sovits5 = [r for r, ck in checkpoints.items() if isinstance(ck, dict) and isinstance(ck.get("model_g"), dict)
               and "dec.adapter.W_scale.weight" in ck["model_g"]]
    if sovits5:  # whisper-vits-svc svc_export.save_model: {'model_g': SynthesizerInfer state}
        roles = {r: "weights" if r == sovits5[0] else "other" if r in checkpoints
                 else "speaker" if lower[r].endswith(".spk.npy") else _generic_role(r) for r in rels}
        return Detection("sovits5", "5.0", roles, {"sample_rate": 32000})
    generators = [r for r, ck in checkpoints.items() if isinstance(ck, dict) and "model" in ck
                  and Path(r).name.upper().startswith("G_")]
    if generators:
        return _sovits(folder, label, rels, generators, config)
    diffusion = _diffusion_models(folder, rels)
    if diffusion:
        return _sovits_diffusion(folder, rels, diffusion)

    # A .pth that loaded may still be a fairseq encoder whose cfg is a plain dict: peek at it too.
    peeks = {r: _pickle_words(folder / r) for r in rels
             if lower[r].endswith((".pt", ".pth", ".bin")) and _unrecognised(checkpoints.get(r))}
    rmvpe = [r for r in rels if _is_rmvpe(checkpoints.get(r)) or _is_rmvpe(peeks.get(r))]
    if rmvpe:
        return Detection("rmvpe", None, {r: "weights" if r == rmvpe[0] else _generic_role(r) for r in rels}, {})
    encoders = [r for r, words in peeks.items() if _is_content_encoder(words)]
    if encoders:
        return _content_encoder(rels, encoders[0], peeks[encoders[0]])
    kmeans = [r for r, words in peeks.items() if _is_kmeans(words)]
    if kmeans:
        return Detection("kmeans", None, {r: "kmeans" if r in kmeans else _generic_role(r) for r in rels}, {})
    pickled = {r: _feature_index(folder / r) for r in rels if lower[r].endswith(".pkl")}
    for r, found in pickled.items():
        if isinstance(found, str):
            raise DetectionError(f"{label}: {r} {found}")
    if pickled:
        first = next(iter(pickled))
        return Detection("sovits_feature_index", "4.1",
                         {r: "feature_index" if r in pickled else _generic_role(r) for r in rels}, pickled[first])
    indexes = [r for r in rels if _faiss_header(folder / r)]
    if indexes:
        dims = _faiss_header(folder / indexes[0])
        return Detection("faiss_index", None, {r: "index" if r in indexes else _generic_role(r) for r in rels},
                         {"dim": dims[0], "vectors": dims[1]})
    for name, found in _plugin_detections(folder, rels, label):
        return found
    raise DetectionError(f"{label}: not a model haysay recognises; looked for " + "; ".join(LOOKED_FOR)
                         + f". Found: {', '.join(rels[:12])}{' ...' if len(rels) > 12 else ''}")


DETECTOR_GROUP = "haysay.detectors"


def _plugin_detections(folder: Path, rels: list[str], label: str):
    """Detections offered by plug-ins (entry-point group haysay.detectors): each names a function
    `detect(folder, rels) -> Detection | None`, asked only when no built-in format matched. A
    plug-in that raises DetectionError refuses the files with its own message."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=DETECTOR_GROUP):
        try:
            fn = ep.load()
        except Exception as exc:  # a broken plug-in must not stop installs of everything else
            import warnings
            warnings.warn(f"haysay: model detector plug-in {ep.name!r} failed to load: {exc}")
            continue
        found = fn(folder, rels)
        if found is not None:
            if not isinstance(found, Detection) or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", found.architecture) \
                    or set(found.roles) - set(rels):
                raise DetectionError(f"{label}: detector plug-in {ep.name!r} returned {found!r}, not a Detection "
                                     "of these files")
            yield ep.name, found


# Demucs' network classes (nodes/audio/separate.py loads exactly these); a .th is torch.save of
# demucs.states.serialize_model's {klass, args, kwargs, state, training_args}, its class a pickled global.
_DEMUCS_CLASSES = ("demucs.htdemucs.HTDemucs", "demucs.hdemucs.HDemucs", "demucs.demucs.Demucs")


def _demucs_class(path: Path) -> str | None:
    """The Demucs network class a model file holds, read without unpickling (pickle opcodes of a .th,
    the JSON header of a .safetensors), or None."""
    if path.suffix.lower() == ".safetensors":
        try:
            with open(path, "rb") as f:
                size = int.from_bytes(f.read(8), "little")
                header = json.loads(f.read(size)) if 0 < size <= _PICKLE_CAP else {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        klass = (header.get("__metadata__") or {}).get("klass") if isinstance(header, dict) else None
        return klass if klass in _DEMUCS_CLASSES else None
    words = _pickle_words(path) or set()
    if not {"klass", "kwargs", "state"} <= words:
        return None
    return next((k for k in _DEMUCS_CLASSES if k in words), None)


def _demucs_bags() -> dict[str, list[str]]:
    """{bag name: model signatures} of the pretrained bags the installed demucs package lists (its
    remote/*.yaml, read as text: demucs is not imported)."""
    import importlib.util

    import yaml

    spec = importlib.util.find_spec("demucs")
    if spec is None or not spec.origin:
        return {}
    bags = {}
    for path in sorted((Path(spec.origin).parent / "remote").glob("*.yaml")):
        try:
            bag = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(bag, dict) and isinstance(bag.get("models"), list):
            bags[path.stem] = [str(m) for m in bag["models"]]
    return bags


def _demucs(folder: Path, rels: list[str], files: list[str]) -> Detection:
    """A Demucs model: the bag's name from its NAME.yaml, else the pretrained bag (of the demucs
    package) made of exactly these signatures (955717e8-*.th is htdemucs)."""
    import yaml

    sigs = [Path(r).name.rsplit(".", 1)[0].split("-", 1)[0] for r in files]
    yamls = [r for r in rels if r.lower().endswith((".yaml", ".yml"))]
    name = None
    for r in yamls:
        try:
            bag = yaml.safe_load((folder / r).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise DetectionError(f"{r}: not a readable Demucs bag ({exc})") from None
        if isinstance(bag, dict) and isinstance(bag.get("models"), list):
            missing = [str(m) for m in bag["models"] if str(m) not in sigs]
            if missing:
                raise DetectionError(f"{r} lists Demucs models {', '.join(missing)} that are not among "
                                     f"the files ({', '.join(files)})")
            name = name or Path(r).stem
    if name is None:
        name = next((b for b, members in _demucs_bags().items() if sorted(members) == sorted(set(sigs))), None)
    classes = sorted({_demucs_class(folder / r).rsplit(".", 1)[1] for r in files})
    roles = {r: "weights" if r in files else "config" if r in yamls else _generic_role(r) for r in rels}
    return Detection("demucs", None, roles, {"model": name, "signatures": sigs, "classes": classes})


_TALKNET_ROLES = {"talknetspect.nemo": "weights", "talknetsinger.nemo": "singer", "talknetdurs.nemo": "durations",
                  "talknetpitch.nemo": "pitch",
                  "hifiganmodel": "vocoder", "hifisr": "superres"}


def _is_talknet_nemo(path: Path) -> bool:
    """A NeMo save_to tar whose model_config.yaml describes a TalkNet network (d_char, a Jasper encoder);
    only the member list and that small member are read."""
    import tarfile

    try:
        with tarfile.open(path, "r:*") as tar:
            for count, member in enumerate(tar):
                if count > 64:
                    return False
                if member.isfile() and member.name.lstrip("./") == "model_config.yaml" and member.size < 1 << 20:
                    text = tar.extractfile(member).read().decode("utf-8", "replace")
                    return "d_char:" in text and "jasper:" in text
    except (tarfile.TarError, OSError, EOFError):
        return False
    return False


def _talknet(rels: list[str], nemos: list[str]) -> Detection:
    """A ControllableTalkNet character folder; tts.talknet runs it (nodes/tts/talknet)."""
    roles = {r: _TALKNET_ROLES.get(Path(r).name.lower()) or ("other" if r in nemos else _generic_role(r)) for r in rels}
    return Detection("talknet", "TalkNet 2", roles, {"sample_rate": 22050,
                                                     "complete": {"weights", "durations", "pitch", "vocoder"}
                                                     <= set(roles.values())})


def _is_hifigan(path: Path) -> bool:
    """jik876/hifi-gan's train.py checkpoint: {'generator': state dict with conv_pre}."""
    try:
        ck = _load_checkpoint(path)
    except DetectionError:
        return False
    gen = ck.get("generator") if isinstance(ck, dict) else None
    return isinstance(gen, dict) and any(str(k).startswith("conv_pre.") for k in gen)


def _hifigan(folder: Path, rels: list[str], generators: list[str]) -> Detection:
    """HiFi-GAN vocoders (tts.talknet's vocoder / superres); hifisr is upstream's 32 kHz super-resolution one."""
    roles = {r: ("superres" if Path(r).name.lower() == "hifisr" else "vocoder") if r in generators
             else _generic_role(r) for r in rels}
    config = _read_json(folder / "config.json") if (folder / "config.json").is_file() else None
    rate = _rate(config.get("sampling_rate")) if isinstance(config, dict) else None
    return Detection("hifigan", "v1", roles, {"sample_rate": rate or (32000 if "superres" in roles.values() else 22050)})


def _coqui(label: str, rels: list[str], config: dict) -> Detection:
    """A Coqui TTS model folder (config.json names the model: vits, xtts); tts.coqui runs it."""
    model = str(config["model"]).lower()
    roles = {r: _generic_role(r) for r in rels}
    roles["config.json"] = "config"
    pths = [r for r in rels if r.lower().endswith(".pth") and "/" not in r]
    if model == "xtts":
        missing = [n for n in ("model.pth", "vocab.json") if n not in rels]
        if missing:
            raise DetectionError(f"{label}: an XTTS model needs {', '.join(missing)} beside its config.json")
        roles["model.pth"], roles["vocab.json"] = "weights", "vocab"
        if "speakers_xtts.pth" in rels:
            roles["speakers_xtts.pth"] = "speakers"
    else:
        named = [r for r in ("model.pth", "best_model.pth", "model_file.pth", "checkpoint.pth") if r in rels]
        steps = sorted((r for r in pths if r.startswith("checkpoint_")), key=lambda r: _step(r))
        weights = named[0] if named else (steps[-1] if steps else None)
        if weights is None:
            raise DetectionError(f"{label}: a Coqui {model} config.json with no checkpoint (model.pth) beside it")
        roles[weights] = "weights"
        for r in rels:
            if Path(r).name in ("speakers.pth", "speaker_ids.json", "speaker_ids.pth", "speakers.json"):
                roles[r] = "speakers"
    audio = config.get("audio") or {}
    info = {"model": model, "sample_rate": audio.get("output_sample_rate") or audio.get("sample_rate"),
            "languages": list(config.get("languages") or [])}
    return Detection("coqui", model, roles, info)


def _piper(label: str, folder: Path, rels: list[str], voices: list[str]) -> Detection:
    if len(voices) > 1:
        raise DetectionError(f"{label}: several Piper voices ({', '.join(voices)}); install them one by one")
    voice = voices[0]
    cfg = _read_json(folder / (voice + ".json"))
    if not isinstance(cfg, dict) or not isinstance(cfg.get("audio"), dict):
        raise DetectionError(f"{voice}.json: not a Piper voice config (no 'audio' section)")
    roles = {r: _generic_role(r) for r in rels}
    roles[voice], roles[voice + ".json"] = "voice", "voice_config"
    info = {"sample_rate": cfg["audio"].get("sample_rate"),
            "language": (cfg.get("language") or {}).get("code") or cfg.get("espeak", {}).get("voice"),
            "speakers": cfg.get("num_speakers", 1), "quality": cfg["audio"].get("quality")}
    return Detection("piper", cfg.get("piper_version"), roles, info)


def _transformers(rels: list[str], config: dict) -> Detection:
    roles = {}
    for r in rels:
        name = Path(r).name
        if name.endswith((".safetensors", ".bin")):
            roles[r] = "weights"
        elif name.endswith(".json"):
            roles[r] = "config"
        else:
            roles[r] = "other"
    if "weights" not in roles.values():
        raise DetectionError("transformers folder has config.json but no model.safetensors or pytorch_model.bin")
    info = {"format": "transformers", "model_type": config["model_type"], "hidden_size": config.get("hidden_size"),
            "layers": config.get("num_hidden_layers")}
    return Detection("content_encoder", f"transformers-{config['model_type']}", roles, info)


def _rvc(folder: Path, rels: list[str], weights: str, ck: dict) -> Detection:
    cfg = ck.get("config")
    if not isinstance(cfg, (list, tuple)) or len(cfg) < 3:
        raise DetectionError(f"{weights}: RVC checkpoint whose 'config' is not the expected list")
    version = str(ck.get("version") or "v1")
    sr = cfg[-1] if isinstance(cfg[-1], int) else _rate(ck.get("sr"))
    roles = {r: _generic_role(r) for r in rels}
    roles[weights] = "weights"
    info: dict[str, Any] = {"sample_rate": sr, "f0": bool(int(ck.get("f0", 1))), "speakers": cfg[-3]}
    for r in rels:
        header = _faiss_header(folder / r)
        if header:
            roles[r] = "index"
            info["index_dim"] = header[0]
    expected_dim = 256 if version == "v1" else 768
    if info.get("index_dim") not in (None, expected_dim):
        info["warning"] = f"index has {info['index_dim']}-dim features but an RVC {version} model uses {expected_dim}"
    return Detection("rvc", version, roles, info)


def sovits_version(model: dict, data: dict) -> str:
    """A so-vits-svc config.json's version: 4.1 names its speech encoder or 4.1-only options; 3.0 (32k/48k
    branches) has 4.0's keys but the 320-sample hop its fixed decoder (upsample 10*8*2*2) gives."""
    if "speech_encoder" in model or "vol_embedding" in model or "use_automatic_f0_prediction" in model:
        return "4.1"
    if data.get("hop_length") == 320 and list(model.get("upsample_rates") or ()) == [10, 8, 2, 2]:
        return "3.0"
    return "4.0"


def _sovits(folder: Path, label: str, rels: list[str], generators: list[str], config: Any) -> Detection:
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise DetectionError(f"{label}: so-vits-svc generator {generators[0]} needs a config.json with a "
                             "'model' section beside it")
    # Several G_ checkpoints are training snapshots: the latest step is the one to use.
    weights = max(generators, key=lambda r: _step(Path(r).name))
    model = config["model"]
    version = sovits_version(model, config.get("data") or {})
    roles = {r: _generic_role(r) for r in rels}
    for r in generators:
        roles[r] = "weights" if r == weights else "other"
    roles["config.json"] = "config"
    warnings: list[str] = []
    for r in rels:
        name = Path(r).name.lower()
        if name.startswith("d_") and name.endswith(".pth"):
            roles[r] = "discriminator"
        elif name.startswith("kmeans") and name.endswith(".pt"):
            roles[r] = "kmeans"
        elif name.endswith(".pkl"):
            found = _feature_index(folder / r)
            if isinstance(found, dict):
                roles[r] = "feature_index"
            else:
                roles[r] = "other"
                warnings.append(f"{r} is not a usable feature index: {found}")
        elif name == "speaker.json":
            roles[r] = "speaker"
    diffusion = _diffusion_models(folder, rels)
    for r in diffusion:  # upstream's logs/44k/diffusion/: the latest step is the one to use
        roles[r] = "other"
    if diffusion:
        latest = max(diffusion, key=lambda r: _step(Path(r).name))
        roles[latest] = "diffusion"
        roles[diffusion[latest]] = "diffusion_config"
    info = {"sample_rate": (config.get("data") or {}).get("sampling_rate"),
            "speakers": list((config.get("spk") or {}).keys()),
            "speech_encoder": model.get("speech_encoder", "hubertsoft" if version == "3.0" else "vec256l9"),
            "ssl_dim": model.get("ssl_dim")}
    if diffusion:
        info["diffusion"] = True
    if warnings:
        info["warning"] = "; ".join(warnings)
    return Detection("sovits", version, roles, info)


def _is_openvoice(ck: Any) -> bool:
    """OpenVoice's tone-colour converter: a {'model': state dict} holding its reference encoder."""
    model = ck.get("model") if isinstance(ck, dict) else None
    return isinstance(model, dict) and any(str(k).startswith("ref_enc.") for k in model) \
        and any(str(k).startswith("enc_q.") for k in model)


def _openvoice(folder: Path, label: str, rels: list[str], converters: list[str], checkpoints: dict) -> Detection:
    if len(converters) > 1:
        raise DetectionError(f"{label}: several OpenVoice converters ({', '.join(converters)}); install them one by one")
    weights = converters[0]
    config_rel = (Path(weights).parent / "config.json").as_posix()
    config = _read_json(folder / config_rel) if config_rel in rels else None
    if not isinstance(config, dict) or not isinstance(config.get("data"), dict) or config["data"].get("n_speakers") != 0:
        raise DetectionError(f"{label}: OpenVoice converter {weights} needs its config.json (data.n_speakers 0) "
                             "beside it")
    roles = {r: _generic_role(r) for r in rels}
    roles[weights], roles[config_rel] = "weights", "config"
    # checkpoints_v2/base_speakers/ses/*.pth: stored tone-colour embeddings (one tensor each)
    speakers = [r for r, ck in checkpoints.items() if _is_tensor(ck)]
    for r in speakers:
        roles[r] = "speaker"
    info = {"sample_rate": config["data"].get("sampling_rate"),
            "gin_channels": (config.get("model") or {}).get("gin_channels"),
            "embeddings": [Path(r).stem for r in speakers]}
    return Detection("openvoice", str(config.get("_version_") or "v1"), roles, info)


def _gpt_sovits_role(path: Path) -> str | None:
    """GPT-SoVITS v2 files, by the keys their pickle names (a SoVITS .pth pickles utils.HParams, so it is
    walked, not loaded): the SoVITS synthesiser's MRTE, or the GPT decoder's prediction layer."""
    words = _pickle_words(path) or set()
    if "enc_p.mrte.c_pre.weight" in words:
        return "weights"
    return "gpt" if "model.ar_predict_layer.weight" in words else None


def _gpt_sovits(rels: list[str], found: dict[str, str | None]) -> Detection:
    """A GPT-SoVITS v2 voice: the SoVITS .pth (weights) and GPT .ckpt (gpt); tts.gpt_sovits runs it. A
    .safetensors beside them is Hay Say's precomputed traits (<name>_precomp.safetensors), role 'traits'."""
    roles = {r: found.get(r) or ("other" if r in found else
                                 "traits" if r.lower().endswith(".safetensors") else _generic_role(r)) for r in rels}
    return Detection("gpt_sovits", "v2", roles, {"sample_rate": 32000, "has_gpt": "gpt" in roles.values()})


_STYLETTS2_MODULES = {"bert", "bert_encoder", "predictor", "decoder", "text_encoder", "style_encoder", "diffusion"}


def _is_styletts2(ck: Any) -> bool:
    """A StyleTTS 2 train_second.py checkpoint: {'net': {module name: state dict}} with its inference modules."""
    net = ck.get("net") if isinstance(ck, dict) else None
    return isinstance(net, dict) and _STYLETTS2_MODULES <= set(net)


def _styletts2(folder: Path, label: str, rels: list[str], found: list[str]) -> Detection:
    if len(found) > 1:
        raise DetectionError(f"{label}: several StyleTTS 2 checkpoints ({', '.join(found)}); install them one by one")
    weights = found[0]
    config_rel = (Path(weights).parent / "config.yml").as_posix()
    if config_rel not in rels:
        raise DetectionError(f"{label}: StyleTTS 2 checkpoint {weights} needs its config.yml beside it")
    import yaml

    try:
        config = yaml.safe_load((folder / config_rel).read_text(encoding="utf-8"))
        params = config["model_params"]
        multispeaker, decoder = bool(params.get("multispeaker")), str(params["decoder"]["type"])
    except (OSError, UnicodeDecodeError, yaml.YAMLError, TypeError, KeyError) as exc:
        raise DetectionError(f"{label}: {config_rel} is not a StyleTTS 2 config ({exc})") from None
    # the weights and its config; PL-BERT's config keeps the generic role, training-only files are other
    roles = {r: "other" if _generic_role(r) == "weights" else _generic_role(r) for r in rels}
    roles[weights], roles[config_rel] = "weights", "config"
    return Detection("styletts2", "2", roles, {"sample_rate": 24000, "multispeaker": multispeaker,
                                              "decoder": decoder})


def _is_tensor(ck: Any) -> bool:
    import torch

    return isinstance(ck, torch.Tensor)


def _diffusion_models(folder: Path, rels: list[str]) -> dict[str, str]:
    """{model_*.pt: its config.yaml} for so-vits diffusion checkpoints with a config beside them."""
    found = {}
    for r in rels:
        p = Path(r)
        config = (p.parent / "config.yaml").as_posix()
        if p.name.lower().startswith("model_") and p.suffix.lower() == ".pt" and config in rels:
            ck = _load_checkpoint(folder / r)
            state = ck.get("model") if isinstance(ck, dict) else None
            if isinstance(state, dict) and _DIFFUSION_KEY in state:
                found[r] = config
    return found


def _sovits_diffusion(folder: Path, rels: list[str], models: dict[str, str]) -> Detection:
    import yaml

    weights = max(models, key=lambda r: _step(Path(r).name))
    roles = {r: "other" if r in models else _generic_role(r) for r in rels}
    roles[weights], roles[models[weights]] = "weights", "config"
    try:
        cfg = yaml.safe_load((folder / models[weights]).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DetectionError(f"{models[weights]}: not a readable YAML config ({str(exc).splitlines()[0]})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("data"), dict) or not isinstance(cfg.get("model"), dict):
        raise DetectionError(f"{models[weights]}: not a so-vits diffusion config (no data and model sections)")
    data, model = cfg["data"], cfg["model"]
    info = {"sample_rate": data.get("sampling_rate"), "block_size": data.get("block_size"),
            "speech_encoder": data.get("encoder"), "units": data.get("encoder_out_channels"),
            "speakers": list((cfg.get("spk") or {}).keys()) if isinstance(cfg.get("spk"), dict) else [],
            "k_step_max": model.get("k_step_max", 0),
            "vocoder": (cfg.get("vocoder") or {}).get("type") if isinstance(cfg.get("vocoder"), dict) else None}
    return Detection("sovits_diffusion", "4.1", roles, info)


def _is_nsf_config(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(cfg, dict) and all(k in cfg for k in _NSF_KEYS) and "model" not in cfg


def _nsf_hifigan(folder: Path, rels: list[str], model: str) -> Detection:
    ck = _load_checkpoint(folder / model)
    keys = set(ck) if isinstance(ck, dict) else (_pickle_words(folder / model) or set())
    if "generator" not in keys:
        raise DetectionError(f"{model}: beside an NSF-HiFiGAN config.json but not its checkpoint (no 'generator')")
    config = (Path(model).parent / "config.json").as_posix()
    cfg = json.loads((folder / config).read_text(encoding="utf-8"))
    roles = {r: _generic_role(r) for r in rels}
    roles[model], roles[config] = "weights", "config"
    info = {"sample_rate": cfg.get("sampling_rate"), "hop_size": cfg.get("hop_size"), "num_mels": cfg.get("num_mels")}
    return Detection("nsf_hifigan", None, roles, info)


def _feature_index(path: Path) -> dict[str, Any] | str:
    """{"speakers", "dim", "vectors"} of a so-vits feature_and_index.pkl, read by walking its pickle opcodes
    (nothing is executed), or why it is not one."""
    try:
        with open(path, "rb") as f:
            data = f.read(_PICKLE_CAP + 1)
    except OSError as exc:
        return f"cannot be read ({exc})"
    if len(data) > _PICKLE_CAP:
        return "is too large to inspect"
    names, blobs, pending = [], [], []
    try:
        for op, arg, _pos in pickletools.genops(io.BytesIO(data)):
            if op.name == "GLOBAL":
                names.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL":
                names.append(".".join(pending[-2:]))
            elif isinstance(arg, (bytes, str)):
                if isinstance(arg, str):
                    pending = (pending + [arg])[-2:]
                blobs.append(arg.encode("latin1", "replace") if isinstance(arg, str) else arg)
    except Exception:
        return "is not a pickle, or a damaged one"
    refused = [n for n in names if not _INDEX_GLOBALS.match(n)]
    if refused:
        return f"refers to {refused[0]}, which a feature index may not contain (it would run code); refusing it"
    headers = [h for h in (_faiss_bytes_header(b) for b in blobs) if h]
    if not headers or not any(n.split(".")[-1].startswith("Index") for n in names):
        return "holds no faiss index"
    return {"speakers": len(headers), "dim": headers[0][0], "vectors": sum(h[1] for h in headers)}


def _faiss_bytes_header(blob: bytes) -> tuple[int, int] | None:
    head = blob[:16]
    if len(head) < 16 or head[:1] != b"I" or not head[:4].isascii() or not head[:4].decode("ascii").isalnum():
        return None
    dim = int.from_bytes(head[4:8], "little", signed=True)
    count = int.from_bytes(head[8:16], "little", signed=True)
    return (dim, count) if 0 < dim < 1 << 16 and count >= 0 else None


def _content_encoder(rels: list[str], weights: str, words: set[str]) -> Detection:
    text = " ".join(words).lower()
    other = _other_speech_encoder(words)
    if other:
        roles = {r: _generic_role(r) for r in rels}
        roles[weights] = "weights"
        return Detection("content_encoder", other, roles, {"format": _OTHER_FORMATS[other]})
    if "contentvec" in text or "checkpoint_best_legacy" in weights.lower():
        version = "contentvec"
    elif "hubert_soft" in text or "hubert-soft" in text:
        version = "hubert_soft"
    else:
        version = "hubert"
    roles = {r: _generic_role(r) for r in rels}
    roles[weights] = "weights"
    config_kind = "omegaconf" if any(w.startswith("omegaconf") for w in words) else (
        "argparse" if "argparse.Namespace" in words else "dict" if _plain_fairseq_cfg(words) else "none")
    return Detection("content_encoder", version, roles, {"format": "fairseq", "config": config_kind})


_OTHER_FORMATS = {"hubert_soft": "bshall", "wavlm": "microsoft", "whisper": "openai-whisper"}


def _other_speech_encoder(words: set[str]) -> str | None:
    """so-vits 4.1's non-fairseq encoders, by the names their state dicts use (see nodes/vc/content)."""
    if {"dims", "model_state_dict", "n_audio_state"} <= words:
        return "whisper"  # OpenAI medium.pt / large-v2.pt
    if any(w.endswith("feature_extractor.conv0.weight") for w in words):
        return "hubert_soft"  # bshall hubert-soft-*.pt
    if "cfg" in words and any(".self_attn.grep_linear." in w or ".relative_attention_bias." in w for w in words):
        return "wavlm"  # Microsoft WavLM-Base+.pt
    return None


def _plain_fairseq_cfg(words: set[str]) -> bool:
    """fairseq's trainer saves `cfg` as a plain dict (OmegaConf.to_container) with model and task sections."""
    return {"cfg", "model", "task"} <= words


def _unrecognised(ck: Any) -> bool:
    return ck is None or (isinstance(ck, dict) and "cfg" in ck)


def _is_content_encoder(words: set[str] | None) -> bool:
    if not words:
        return False
    if _other_speech_encoder(words):
        return True
    fairseq_config = ("argparse.Namespace" in words or any(w.startswith("omegaconf") for w in words)
                      or _plain_fairseq_cfg(words))
    hubert_keys = any(w.startswith(("feature_extractor.conv_layers", "label_embs_concat", "final_proj"))
                      for w in words)
    return fairseq_config and hubert_keys


def _is_rmvpe(keys) -> bool:
    return isinstance(keys, (dict, set)) and all(k in keys for k in _RMVPE_KEYS)


def _is_kmeans(words: set[str] | None) -> bool:
    return bool(words) and "cluster_centers_" in words and "n_features_in_" in words


def _load_checkpoint(path: Path) -> Any:
    """The checkpoint's top object via the safe loader, or None if it needs classes outside the allow-list.
    Its declared sizes are checked against the file first (CheckpointError: a hostile or damaged file)."""
    import torch

    try:
        check_checkpoint(path)
    except CheckpointError as exc:
        raise DetectionError(f"{path.name} is refused: {exc.problem}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc).lower():
            return None
    except Exception:
        return None
    try:  # legacy (pre-zip) checkpoints cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None


def _pickle_words(path: Path) -> set[str] | None:
    """Strings and GLOBAL class names a torch pickle mentions, found without executing it."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.endswith("data.pkl")]
                if not names or zf.getinfo(names[0]).file_size > _PICKLE_CAP:
                    return None
                return _walk(zf.read(names[0]))
        with open(path, "rb") as f:  # legacy format: magic, protocol, sys info, then the object
            data = f.read(_PICKLE_CAP)
        return _walk(data, pickles=4)
    except (OSError, zipfile.BadZipFile):
        return None


def _walk(data: bytes, pickles: int = 1) -> set[str] | None:
    import io

    words: set[str] = set()
    stream = io.BytesIO(data)
    pending: list[str] = []
    try:
        for _ in range(pickles):
            for op, arg, _pos in pickletools.genops(stream):
                if op.name == "GLOBAL":
                    words.add(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL":
                    if len(pending) >= 2:
                        words.add(f"{pending[-2]}.{pending[-1]}")
                elif isinstance(arg, str):
                    words.add(arg)
                    pending.append(arg)
                    del pending[:-2]
    except Exception:  # a truncated read or not a pickle at all: keep what was seen
        pass
    return words or None


def _faiss_header(path: Path) -> tuple[int, int] | None:
    """(dimension, vector count) from a faiss index file's header, or None."""
    if not path.name.lower().endswith(".index"):
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if len(head) < 16 or head[:1] != b"I" or not head[:_FAISS_MAGIC_CAP].isascii() \
            or not head[:_FAISS_MAGIC_CAP].decode("ascii").isalnum():
        return None
    dim = int.from_bytes(head[4:8], "little", signed=True)
    count = int.from_bytes(head[8:16], "little", signed=True)
    return (dim, count) if 0 < dim < 1 << 16 and count >= 0 else None


def _generic_role(rel: str) -> str:
    name = rel.lower()
    if name.endswith(".index"):
        return "index"
    if name.endswith(("config.json", ".yaml", ".yml")):
        return "config"
    if name.endswith((".pth", ".pt", ".ckpt", ".safetensors", ".onnx", ".bin")):
        return "weights"
    return "other"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DetectionError(f"{path.name}: not readable JSON ({exc})") from exc


def _rate(sr: Any) -> int | None:
    if isinstance(sr, int):
        return sr
    if isinstance(sr, str) and sr.lower().endswith("k") and sr[:-1].isdigit():
        return int(sr[:-1]) * 1000
    return None


def _step(name: str) -> int:
    digits = "".join(c for c in name if c.isdigit())
    return int(digits) if digits else -1
