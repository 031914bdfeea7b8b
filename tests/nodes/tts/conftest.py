"""Tiny TTS models in the real upstream file formats, shared by each architecture's tests and the TTS
conformance suite (test_conformance.py). The writers live beside each architecture's tests
(styletts2/conftest.py, talknet/conftest.py, gpt_sovits/conftest.py); they are loaded here by path so one
session-scoped file of each serves every folder. Coqui's VITS is written by Coqui's own code and trainer."""
from __future__ import annotations

import importlib.util
import shutil
from functools import cache
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent


@cache
def builders(arch: str):
    """tests/nodes/tts/<arch>/conftest.py as a module of writer functions (its own fixtures stay its own)."""
    spec = importlib.util.spec_from_file_location(f"haysay_test_tts_{arch}_builders", HERE / arch / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- StyleTTS 2 (writers: styletts2/conftest.py) ---------------------------------------------------------
@pytest.fixture(scope="session")
def libritts_model(tmp_path_factory) -> Path:
    """Multi-speaker, HiFi-GAN decoder, DataParallel keys: the released LibriTTS model's layout."""
    return builders("styletts2").write_model(tmp_path_factory.mktemp("st2_libritts"))


@pytest.fixture(scope="session")
def ljspeech_model(tmp_path_factory) -> Path:
    """Single speaker, iSTFTNet decoder, plain keys: the LJSpeech model's layout."""
    return builders("styletts2").write_model(tmp_path_factory.mktemp("st2_ljspeech"), multispeaker=False,
                                             decoder="istftnet", data_parallel=False, seed=1)


@pytest.fixture(scope="session")
def voices():
    """Two espeak-ng voices: a low one at 24 kHz and a higher, faster one at 22.05 kHz."""
    clip = builders("styletts2").espeak_clip
    return {"low": clip("The weather is lovely today, and we are going out.", "en-us", 30),
            "high": clip("Another voice, higher and faster than the first one.", "en-us+f3", 85, 22050)}


# -- TalkNet (writers: talknet/conftest.py) --------------------------------------------------------------
@pytest.fixture(scope="session")
def character(tmp_path_factory) -> Path:
    return builders("talknet").write_character(tmp_path_factory.mktemp("talknet") / "char")


# -- Coqui VITS ------------------------------------------------------------------------------------------
def write_vits(train_dir: Path, speakers: list[str] | None = None) -> None:
    """A small VITS (reduced widths, real structure) saved as Coqui's trainer saves one: built by
    `TTS.tts.models.vits.Vits` from a `VitsConfig`, saved by `trainer.io.save_model`, its config by
    `VitsConfig.save_json`, its speakers by `SpeakerManager.save_ids_to_file`."""
    pytest.importorskip("TTS", reason="coqui-tts is not installed (pip install 'haysay[coqui]')")
    import torch
    from trainer.io import save_model
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits, VitsArgs
    from TTS.tts.utils.speakers import SpeakerManager

    from haysay.nodes.tts.coqui.phonemes import install_library_espeak

    install_library_espeak()  # building the model makes its tokenizer, which needs the phonemizer
    train_dir.mkdir(parents=True)
    extra, manager = {}, None
    if speakers:
        manager = SpeakerManager()
        manager.name_to_id = {name: i for i, name in enumerate(speakers)}
        manager.save_ids_to_file(str(train_dir / "speakers.pth"))
        extra = {"use_speaker_embedding": True, "speaker_embedding_channels": 16,
                 "speakers_file": str(train_dir / "speakers.pth")}
    args = VitsArgs(hidden_channels=32, hidden_channels_ffn_text_encoder=64, num_heads_text_encoder=2,
                    num_layers_text_encoder=2, upsample_initial_channel_decoder=64, num_layers_flow=2,
                    num_layers_posterior_encoder=4, resblock_kernel_sizes_decoder=[3],
                    resblock_dilation_sizes_decoder=[[1, 3, 5]], init_discriminator=False, use_sdp=False, **extra)
    config = VitsConfig(model_args=args, use_phonemes=True, phonemizer="espeak", phoneme_language="en-us",
                        text_cleaner="phoneme_cleaners", speakers_file=extra.get("speakers_file"))
    config.audio.do_trim_silence = False  # Coqui cuts at the first 0.8 s under -40 dB: random voices fade early
    if speakers:
        config.num_speakers = config.model_args.num_speakers = len(speakers)
    torch.manual_seed(3)
    model = Vits(config, speaker_manager=manager)
    with torch.no_grad():  # trained voices hold each phoneme for frames; random ones for a fraction of one
        model.duration_predictor.proj.weight.zero_()
        model.duration_predictor.proj.bias.fill_(float(np.log(6.0)))
    if speakers:
        with torch.no_grad():
            model.emb_g.weight.mul_(30.0)  # random speakers far apart, so they are told apart by ear
    save_model(config, model, train_dir / "model.pth", current_step=1000, epoch=3)
    config.save_json(str(train_dir / "config.json"))


@pytest.fixture(scope="session")
def coqui_vits(tmp_path_factory) -> Path:
    """A single-speaker VITS folder, moved away from the folder it was trained in (as a download is)."""
    root = tmp_path_factory.mktemp("coqui")
    write_vits(root / "train")
    shutil.move(str(root / "train"), str(root / "vits"))
    return root / "vits"


@pytest.fixture(scope="session")
def coqui_multi(tmp_path_factory) -> Path:
    """Two speakers; its config still names speakers.pth in the folder it was trained in (gone)."""
    root = tmp_path_factory.mktemp("coqui-ms")
    write_vits(root / "run-7", speakers=["alice", "bob"])
    shutil.move(str(root / "run-7"), str(root / "downloaded"))
    return root / "downloaded"


# -- GPT-SoVITS: its own folder's fixtures (gpt_sovits/conftest.py), made reachable from here ------------
gs_files = builders("gpt_sovits").gs_files
gs_hubert = builders("gpt_sovits").gs_hubert
