"""Architecture and version detection from real-shaped model files."""
from __future__ import annotations

import json

import pytest

from haysay.graph_engine.models import DetectionError, detect


@pytest.mark.parametrize("version,sr,dim", [("v1", 40000, 256), ("v2", 48000, 768)])
def test_rvc_version_rate_and_index(fake, tmp_path, version, sr, dim):
    fake.rvc(tmp_path / "voice.pth", version=version, sr=sr, f0=1)
    fake.index(tmp_path / "added_IVF8_Flat_nprobe_1.index", dim=dim)
    (tmp_path / "README.txt").write_text("trained by someone")
    found = detect(tmp_path)
    assert (found.architecture, found.version) == ("rvc", version)
    assert found.roles == {"voice.pth": "weights", "added_IVF8_Flat_nprobe_1.index": "index", "README.txt": "other"}
    assert found.info["sample_rate"] == sr and found.info["f0"] is True and found.info["index_dim"] == dim
    assert "warning" not in found.info


def test_rvc_index_of_wrong_version_is_flagged(fake, tmp_path):
    fake.rvc(tmp_path / "voice.pth", version="v2")
    fake.index(tmp_path / "v1.index", dim=256)
    assert "256-dim" in detect(tmp_path).info["warning"]


@pytest.mark.parametrize("version", ["4.0", "4.1"])
def test_sovits_version_from_config(fake, tmp_path, version):
    fake.sovits(tmp_path, version=version, step=800)
    fake.sovits(tmp_path / "older", version=version, step=400)  # a second snapshot in a subfolder
    fake.kmeans(tmp_path / "kmeans_10000.pt")
    found = detect(tmp_path)
    assert (found.architecture, found.version) == ("sovits", version)
    assert found.roles["G_800.pth"] == "weights" and found.roles["older/G_400.pth"] == "other"
    assert found.roles["kmeans_10000.pt"] == "kmeans" and found.roles["config.json"] == "config"
    assert found.info["sample_rate"] == 44100 and found.info["speakers"] == ["alto", "tenor"]
    assert found.info["speech_encoder"] == ("vec768l12" if version == "4.1" else "vec256l9")


def test_sovits_without_config_names_the_file(fake, tmp_path):
    fake.sovits(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(DetectionError, match="G_800.pth.*config.json"):
        detect(tmp_path)


@pytest.mark.parametrize("flavour", ["hubert", "contentvec"])
def test_fairseq_content_encoder_detected_without_unpickling(fake, tmp_path, flavour):
    name = "checkpoint_best_legacy_500.pt" if flavour == "contentvec" else "hubert_base.pt"
    fake.encoder(tmp_path / name, flavour)
    found = detect(tmp_path)
    assert (found.architecture, found.version) == ("content_encoder", flavour)
    assert found.info == {"format": "fairseq", "config": "argparse"}


def test_omegaconf_encoder_detected_though_omegaconf_is_absent(fake, tmp_path, monkeypatch):
    import sys
    import types

    import torch

    # fairseq's newer checkpoints pickle an omegaconf DictConfig; build one whose module exists
    # only while saving, so loading it for real would be impossible afterwards.
    module = types.ModuleType("omegaconf_shadow")
    DictConfig = type("DictConfig", (), {"__module__": "omegaconf_shadow"})
    module.DictConfig = DictConfig
    monkeypatch.setitem(sys.modules, "omegaconf_shadow", module)
    torch.save({"cfg": DictConfig(), "model": {"feature_extractor.conv_layers.0.0.weight": torch.zeros(2)}},
               tmp_path / "hubert.pt")
    monkeypatch.delitem(sys.modules, "omegaconf_shadow")
    found = detect(tmp_path)
    assert found.architecture == "content_encoder" and found.info["config"] == "omegaconf"


def test_transformers_hubert_folder(fake, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "hubert", "hidden_size": 768,
                                                      "num_hidden_layers": 12}))
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 16)
    found = detect(tmp_path)
    assert (found.architecture, found.version) == ("content_encoder", "transformers-hubert")
    assert found.roles == {"config.json": "config", "model.safetensors": "weights"}


def test_kmeans_piper_and_bare_index(fake, tmp_path):
    fake.kmeans(tmp_path / "k" / "kmeans.pt", speakers=("a", "b"))
    assert detect(tmp_path / "k").architecture == "kmeans"
    fake.piper(tmp_path / "p")
    found = detect(tmp_path / "p")
    assert (found.architecture, found.version) == ("piper", "1.0.0")
    assert found.info["sample_rate"] == 16000 and found.info["language"] == "en_US"
    fake.index(tmp_path / "i" / "x.index", dim=256, n=10)
    found = detect(tmp_path / "i")
    assert found.architecture == "faiss_index" and found.info == {"dim": 256, "vectors": 10}


def test_unknown_files_list_what_was_looked_for(fake, tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"not a checkpoint")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DetectionError) as info:
        detect(tmp_path)
    message = str(info.value)
    for expected in ("RVC .pth", "so-vits-svc", "content encoder", "Piper", "faiss", "k-means",
                     "weights.bin", "notes.txt"):
        assert expected in message


def test_declared_architecture_is_trusted_only_when_nothing_is_recognised(fake, tmp_path):
    (tmp_path / "model.ckpt").write_bytes(b"opaque")
    found = detect(tmp_path, declared="talknet")
    assert found.architecture == "talknet" and found.version is None and found.roles == {"model.ckpt": "weights"}
    fake.rvc(tmp_path / "r" / "voice.pth")
    with pytest.raises(DetectionError, match="declared architecture 'sovits'.*'rvc'"):
        detect(tmp_path / "r", declared="sovits")


def test_malicious_pickle_is_never_executed(fake, tmp_path):
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"weight": Evil(), "config": [1]}))
    with pytest.raises(DetectionError):
        detect(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["hubert_base.pt", "hubert_base.pth"])
def test_fairseq_encoder_with_a_plain_dict_cfg(tmp_path, name):
    """fairseq's trainer writes `cfg` as a plain dict (OmegaConf.to_container); the loader reads it, so must
    detection, whether the file loads under weights_only (.pth is tried) or is only peeked at (.pt)."""
    import torch

    cfg = {"_name": None, "common": {"fp16": True}, "task": {"_name": "hubert_pretraining", "sample_rate": 16000},
           "model": {"_name": "hubert", "encoder_layers": 12, "final_dim": 256}}
    model = {"feature_extractor.conv_layers.0.0.weight": torch.zeros(8, 1, 10), "final_proj.weight": torch.zeros(4, 8),
             "label_embs_concat": torch.zeros(4, 4)}
    torch.save({"args": None, "cfg": cfg, "model": model, "optimizer_history": []}, tmp_path / name)
    found = detect(tmp_path)
    assert (found.architecture, found.version) == ("content_encoder", "hubert")
    assert found.roles == {name: "weights"} and found.info == {"format": "fairseq", "config": "dict"}


# --- so-vits 4.1's extra files: diffusion model, NSF-HiFiGAN vocoder, feature index -------------------------

def _extras():
    from ...nodes.vc.sovits_extras import conftest as extras

    return extras


def _features(speakers=(0, 1), n=100, dim=8):
    import numpy as np

    rng = np.random.default_rng(0)
    return {s: rng.standard_normal((n, dim)).astype(np.float32) for s in speakers}


def test_sovits_folder_carrying_diffusion_and_feature_index(fake, tmp_path):
    import shutil

    ex = _extras()
    fake.sovits(tmp_path)
    latest = ex.write_diffusion(tmp_path / "diffusion")  # upstream's logs/44k/diffusion/model_100.pt
    shutil.copy(latest, tmp_path / "diffusion" / "model_0.pt")
    ex.write_feature_index(tmp_path / "feature_and_index.pkl", _features())
    found = detect(tmp_path)
    assert found.architecture == "sovits" and found.roles["G_800.pth"] == "weights"
    assert found.roles["diffusion/model_100.pt"] == "diffusion" and found.roles["diffusion/model_0.pt"] == "other"
    assert found.roles["diffusion/config.yaml"] == "diffusion_config" and found.roles["config.json"] == "config"
    assert found.roles["feature_and_index.pkl"] == "feature_index" and found.info["diffusion"] is True


def test_standalone_diffusion_model_and_its_config(tmp_path):
    ex = _extras()
    ex.write_diffusion(tmp_path)
    found = detect(tmp_path)
    assert (found.architecture, found.version) == ("sovits_diffusion", "4.1")
    assert found.roles == {"model_100.pt": "weights", "config.yaml": "config"}
    assert found.info["sample_rate"] == 44100 and found.info["block_size"] == 512
    assert found.info["speakers"] == ["nyaru", "twilight"] and found.info["units"] == 24
    (tmp_path / "config.yaml").unlink()  # a model_*.pt alone is not recognised as diffusion
    with pytest.raises(DetectionError, match="not a model haysay recognises"):
        detect(tmp_path)


@pytest.mark.parametrize("nested", [False, True])
def test_nsf_hifigan_vocoder_folder(tmp_path, nested):
    ex = _extras()
    ex.write_nsf_hifigan(tmp_path / "nsf_hifigan" if nested else tmp_path)
    found = detect(tmp_path)
    prefix = "nsf_hifigan/" if nested else ""
    assert found.architecture == "nsf_hifigan"
    assert found.roles == {f"{prefix}model": "weights", f"{prefix}config.json": "config"}
    assert found.info == {"sample_rate": 44100, "hop_size": 64, "num_mels": 128}


@pytest.mark.parametrize("protocol", [2, 4])
def test_feature_index_read_without_unpickling(tmp_path, protocol):
    import pickle

    ex = _extras()
    path = ex.write_feature_index(tmp_path / "feature_and_index.pkl", _features(n=120))
    if protocol != 4:  # upstream's pickle.dump default is 4; older Pythons wrote 2
        with open(path, "rb") as fh:
            data = pickle.load(fh)  # our own file, written just above
        path.write_bytes(pickle.dumps(data, protocol=protocol))
    found = detect(tmp_path)
    assert found.architecture == "sovits_feature_index"
    assert found.roles == {"feature_and_index.pkl": "feature_index"}
    assert found.info == {"speakers": 2, "dim": 8, "vectors": 240}


def test_hostile_or_foreign_pkl_is_refused_unrun(fake, tmp_path):
    import os
    import pickle

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "feature_and_index.pkl").write_bytes(pickle.dumps({0: Evil()}))
    with pytest.raises(DetectionError, match="system.*would run code"):
        detect(tmp_path / "evil")
    assert not marker.exists()
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "things.pkl").write_bytes(pickle.dumps({0: [1, 2, 3]}))
    with pytest.raises(DetectionError, match="holds no faiss index"):
        detect(tmp_path / "plain")
    fake.sovits(tmp_path / "so")  # inside a so-vits folder it is left out, with a warning
    (tmp_path / "so" / "feature_and_index.pkl").write_bytes(pickle.dumps({0: Evil()}))
    found = detect(tmp_path / "so")
    assert found.roles["feature_and_index.pkl"] == "other" and "would run code" in found.info["warning"]
    assert not marker.exists()


def test_doctor_reports_the_sovits_extras(fake, store, tmp_path):
    from haysay.graph_engine.doctor import run_doctor

    ex = _extras()
    fake.sovits(tmp_path / "so")
    ex.write_diffusion(tmp_path / "so" / "diffusion")
    fake.encoder(tmp_path / "enc" / "hubert_base.pt")
    store.install(str(tmp_path / "so"), name="voice")
    store.install(str(tmp_path / "enc"), name="hubert")
    by_name = {c.name: c for c in run_doctor(store).components}
    assert by_name["vc.sovits"].ready
    diffusion = by_name["vc.sovits shallow diffusion"]
    assert not diffusion.ready and "1 sovits_diffusion installed, 0 nsf_hifigan installed" in diffusion.models
    ex.write_nsf_hifigan(tmp_path / "nsf_hifigan")
    store.install(str(tmp_path / "nsf_hifigan"), name="nsf_hifigan")
    by_name = {c.name: c for c in run_doctor(store).components}
    assert by_name["vc.sovits shallow diffusion"].ready and by_name["vc.sovits enhance"].ready
    assert not by_name["vc.sovits feature retrieval"].ready
