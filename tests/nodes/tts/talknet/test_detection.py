"""`haysay models install` recognises a ControllableTalkNet character folder, and tts.talknet runs it by name."""
from __future__ import annotations

from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.graph_engine.models import ModelStore, detect

from .conftest import write_character


def test_character_folder_is_detected_with_roles(tmp_path):
    folder = write_character(tmp_path / "twilight", designed=False)
    found = detect(folder)
    assert (found.architecture, found.version) == ("talknet", "TalkNet 2")
    assert found.roles == {"TalkNetSpect.nemo": "weights", "TalkNetDurs.nemo": "durations",
                           "TalkNetPitch.nemo": "pitch", "hifiganmodel": "vocoder", "config.json": "config"}
    assert found.info == {"sample_rate": 22050, "complete": True}
    (folder / "hifiganmodel").unlink()
    assert detect(folder).info["complete"] is False


def test_a_nemo_file_of_another_model_is_not_talknet(tmp_path):
    from .conftest import write_nemo

    folder = tmp_path / "asr"
    folder.mkdir()
    write_nemo(folder / "QuartzNet15x5.nemo", {"encoder": {"feat_in": 64}, "decoder": {}}, {})
    assert detect(folder, declared="sovits").architecture == "sovits"  # nothing recognised: the declaration


def test_installed_character_runs_by_name(tmp_path, haysay_home):
    installed = ModelStore.from_env().install(str(write_character(tmp_path / "rarity")), name="tn-test")
    assert installed.architecture == "talknet"
    ctx = NodeContext()
    out = default_registry()["tts.talknet"].call({"model": "tn-test"}, ctx=ctx, text="Hello.")["audio"]
    assert out.sample_rate == 22050 and out.duration > 0.5


def test_hifigan_folders_are_detected_and_used_by_name(tmp_path, haysay_home, character):
    import json
    import shutil
    from dataclasses import replace

    import torch

    from .conftest import TINY_HIFI, hifigan_checkpoint

    sr = tmp_path / "hifisr"
    sr.mkdir()
    h = replace(TINY_HIFI, upsample_rates=(8, 8, 4, 2), upsample_kernel_sizes=(16, 16, 8, 4), n_fft=2048,
                hop_size=512, win_size=2048, sampling_rate=32000, fmax=11025.0)
    torch.save(hifigan_checkpoint(h, 1), sr / "hifisr")
    (sr / "config.json").write_text(json.dumps(h.__dict__))
    found = detect(sr)
    assert (found.architecture, found.roles, found.info) == ("hifigan", {"hifisr": "superres", "config.json": "config"},
                                                             {"sample_rate": 32000})
    voc = tmp_path / "voc"
    voc.mkdir()
    shutil.copy(character / "hifiganmodel", voc / "g_00100000")
    shutil.copy(character / "config.json", voc / "config.json")
    assert detect(voc).roles == {"g_00100000": "vocoder", "config.json": "config"}
    store = ModelStore.from_env()
    store.install(str(sr), name="sr-test")
    store.install(str(voc), name="voc-test")
    ctx = NodeContext()
    out = default_registry()["tts.talknet"].call({"model": str(character), "vocoder": "voc-test",
                                                  "superres": "sr-test"}, ctx=ctx, text="Hello.")["audio"]
    assert out.sample_rate == 32000 and ctx.info["talknet"]["sample_rate"] == 32000
