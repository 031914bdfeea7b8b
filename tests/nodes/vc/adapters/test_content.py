"""Content encoder loading: fairseq pickles through the restricted loader, transformers folders."""
from __future__ import annotations

import os

import pytest
import torch

from haysay.nodes.vc.content.checkpoint import read_content_encoder
from haysay.nodes.vc.safe_load import CheckpointError, pickle_globals


@pytest.mark.parametrize("form", ["tiny_fairseq", "transformers", "transformers_bin"])
def test_every_form_loads_the_same_weights(form, encoder_files, tiny_encoder, speech):
    loaded = read_content_encoder(encoder_files[form])
    wav = torch.tensor(speech[1][:16000], dtype=torch.float32)[None]
    for layer, proj in ((9, True), (12, False)):
        want = tiny_encoder.features(wav, layer, proj)
        got = loaded.features(wav, layer, proj)
        assert got.shape == want.shape == (1, 49, 256 if proj else 32)
        assert torch.allclose(got, want, atol=1e-4)


def test_fairseq_pickle_names_config_classes_but_loads_without_them(encoder_files, monkeypatch):
    names = pickle_globals(encoder_files["tiny_fairseq"])
    assert "omegaconf.dictconfig.DictConfig" in names and "argparse.Namespace" in names
    assert "fairseq.data.dictionary.Dictionary" in names
    # omegaconf may be installed (demucs and coqui bring it): the loader must not need, or import, it
    for mod in ("omegaconf", "omegaconf.dictconfig", "fairseq"):
        monkeypatch.setitem(__import__("sys").modules, mod, None)  # importing it now fails
    enc = read_content_encoder(encoder_files["tiny_fairseq"])
    assert enc.cfg.num_layers == 12 and enc.cfg.conv_layers[0] == (32, 10, 5) and enc.cfg.num_heads == 4


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo should-not-run > /dev/null",))


def test_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "cfg": _Evil()}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt.*system.*refusing"):
        read_content_encoder(path)


def test_truncated_and_missing_files_name_the_file(encoder_files, tmp_path):
    data = encoder_files["tiny_fairseq"].read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt"):
        read_content_encoder(cut)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_content_encoder(tmp_path / "nope.pt")


def test_transformers_folder_missing_weights(tmp_path, encoder_files):
    (tmp_path / "config.json").write_text((encoder_files["transformers"] / "config.json").read_text())
    with pytest.raises(CheckpointError, match="no model.safetensors or pytorch_model.bin"):
        read_content_encoder(tmp_path)


def test_wrong_layout_is_named(tmp_path):
    path = tmp_path / "notes.pt"
    torch.save({"model": {"decoder.weight": torch.zeros(3)}}, path)
    with pytest.raises(CheckpointError, match=r"unexpected weight decoder\.weight"):
        read_content_encoder(path)
