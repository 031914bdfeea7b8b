"""The .nemo reader refuses what is not a NeMo model file before loading anything, and the node reports it
on the model field."""
from __future__ import annotations

import io
import pickle
import tarfile

import pytest
import torch

from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.graph_engine.models.checkpoint_limits import CheckpointError
from haysay.nodes.tts.talknet.archive import read_nemo
from haysay.nodes.vc.resolve import ModelRefError

from .conftest import config, network, state_of, write_character, write_nemo


def _spect(tmp_path, name="TalkNetSpect.nemo", **kw):
    cfg = config("spect")
    return write_nemo(tmp_path / name, cfg, state_of("spect", network("spect", cfg, 0, False)), **kw)


def test_reads_what_save_to_writes(tmp_path):
    archive = read_nemo(_spect(tmp_path))
    assert archive.config["d_char"] == 16 and "proj.weight" in archive.state
    assert archive.config["train_ds"]["dataset"]["vocab"]["notation"] == "phonemes"


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _member(name, data=b"x", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


@pytest.mark.parametrize("members, problem", [
    ([_member("../model_config.yaml")], "outside the archive"),
    ([_member("/etc/model_config.yaml")], "outside the archive"),
    ([_member("./model_weights.ckpt", kind=tarfile.SYMTYPE, link="/etc/passwd")], "link or device"),
    ([_member("./model_config.yaml", b"d_char: 16\n")], "no model_weights.ckpt"),
    ([_member("./model_weights.ckpt", b"\0" * 10)], "no model_config.yaml"),
    ([_member("./model_config.yaml", b"#" * ((1 << 20) + 1))], "over the 1048576-byte limit"),
    ([_member(f"./f{i}") for i in range(70)], "more than 64 archive members"),
])
def test_unsafe_or_incomplete_archives_are_refused(tmp_path, members, problem):
    with pytest.raises(CheckpointError, match=problem):
        read_nemo(_tar(tmp_path / "bad.nemo", members))


def test_not_a_tar_and_missing_file_are_refused(tmp_path):
    (tmp_path / "x.nemo").write_bytes(b"PK\x03\x04 not a tar at all")
    with pytest.raises(CheckpointError, match="not a .nemo archive"):
        read_nemo(tmp_path / "x.nemo")
    with pytest.raises(CheckpointError, match="does not exist"):
        read_nemo(tmp_path / "none.nemo")


def test_weights_that_would_run_code_are_refused(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    buf = io.BytesIO()
    torch.save({"proj.weight": torch.zeros(1), "x": Boom()}, buf, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    path = _tar(tmp_path / "evil.nemo", [_member("./model_config.yaml", b"d_char: 16\n"),
                                         _member("./model_weights.ckpt", buf.getvalue())])
    with pytest.raises(CheckpointError, match="builtins.print"):
        read_nemo(path)


def test_config_that_is_not_yaml_or_not_talknet_is_refused_on_the_model_field(tmp_path):
    folder = write_character(tmp_path / "c", designed=False)
    cfg = config("spect")
    state = state_of("spect", network("spect", cfg, 0, False))
    spec = default_registry()["tts.talknet"]
    for bad_cfg, problem in (({**cfg, "model": {"jasper": []}}, "no model.jasper"),
                             ({**cfg, "d_char": 32}, "shape")):
        write_nemo(folder / "TalkNetSpect.nemo", bad_cfg, state)
        with pytest.raises(ModelRefError, match=problem) as info:
            spec.call({"model": str(folder)}, ctx=NodeContext(), text="hello")
        assert info.value.field == "model"
    write_nemo(folder / "TalkNetSpect.nemo", cfg, state, members={"./model_config.yaml": b"a: [unclosed"})
    with pytest.raises(ModelRefError, match="not valid YAML"):
        spec.call({"model": str(folder)}, ctx=NodeContext(), text="hello")
