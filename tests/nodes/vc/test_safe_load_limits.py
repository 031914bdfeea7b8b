"""The weights-only loader against hostile checkpoints: sizes that do not fit the file are refused
before anything is allocated, and a small file never costs gigabytes."""
from __future__ import annotations

import io
import json
import pickle
import struct
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from haysay.nodes.vc.safe_load import CheckpointError, inert_to_dict, safe_torch_load


class Storage:
    def __init__(self, key: str, numel: int, kind: str = "FloatStorage"):
        self.key, self.numel, self.kind = key, numel, kind


class Tensor:
    def __init__(self, storage: Storage, offset: int, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, OrderedDict())

    def __reduce_ex__(self, proto):
        return (torch._utils._rebuild_tensor_v2, self.args)


class _Pickler(pickle.Pickler):
    legacy = False

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            pid = ("storage", getattr(torch, obj.kind), obj.key, "cpu", obj.numel)
            return pid + (None,) if self.legacy else pid
        return None


def pickled(obj, legacy: bool = False) -> bytes:
    buf = io.BytesIO()
    p = _Pickler(buf, protocol=2)
    p.legacy = legacy
    p.dump(obj)
    return buf.getvalue()


def zip_checkpoint(path: Path, obj, records: dict[str, bytes], bomb_bytes: int = 0) -> Path:
    """torch's zip layout; `bomb_bytes` of zeros go deflated into record 0 (a zip bomb)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickled(obj))
        zf.writestr("archive/byteorder", "little")
        for key, data in records.items():
            zf.writestr(f"archive/data/{key}", data)
        if bomb_bytes:
            info = zipfile.ZipInfo("archive/data/0")
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                chunk = bytes(1 << 20)
                for _ in range(bomb_bytes >> 20):
                    fh.write(chunk)
        zf.writestr("archive/version", "3\n")
    return path


def legacy_checkpoint(path: Path, obj, storages: dict[str, bytes]) -> Path:
    """torch's pre-zip format: magic, protocol, sys info, the object, its storage keys, raw storages."""
    with open(path, "wb") as fh:
        for head in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                                      "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(head, fh, protocol=2)
        fh.write(pickled(obj, legacy=True))
        pickle.dump(list(storages), fh, protocol=2)
        for data in storages.values():
            fh.write(struct.pack("<q", len(data) // 4) + data)
    return path


def deflated_bomb(tmp_path: Path) -> Path:
    n = 1 << 27  # 512 MB of float32 zeros, deflated to half a megabyte
    return zip_checkpoint(tmp_path / "bomb.pth", {"weight": {"w": Tensor(Storage("0", n), 0, [n], [1])}}, {},
                          bomb_bytes=4 * n)


def test_storage_declared_larger_than_its_record_is_refused(tmp_path):
    path = zip_checkpoint(tmp_path / "big.pth", {"w": Tensor(Storage("0", 1 << 30), 0, [4], [1])}, {"0": bytes(16)})
    with pytest.raises(CheckpointError, match=r"storage 0 declares 4294967296 bytes, but the archive holds 16"):
        safe_torch_load(path)


def test_tensor_view_past_its_storage_is_refused(tmp_path):
    path = zip_checkpoint(tmp_path / "view.pth", {"w": Tensor(Storage("0", 4), 2, [3], [1])}, {"0": bytes(16)})
    with pytest.raises(CheckpointError, match=r"shape \[3\] reaches byte 20 of storage 0, which holds 16 bytes"):
        safe_torch_load(path)


def test_overlapping_views_claiming_far_more_than_the_file_are_refused(tmp_path):
    storage = Storage("0", 1 << 20)
    views = {f"w{i}": Tensor(storage, 0, [1 << 20], [1]) for i in range(200)}  # 200 x 4 MB over one 4 MB record
    path = zip_checkpoint(tmp_path / "views.pth", views, {"0": bytes(4 << 20)})
    with pytest.raises(CheckpointError, match="views of 838860800 bytes over 4194304 bytes"):
        safe_torch_load(path)


def test_zip_bomb_record_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="unpack to .* bytes from a .*-byte file"):
        safe_torch_load(deflated_bomb(tmp_path))


def test_legacy_format_storage_larger_than_the_file_is_refused(tmp_path):
    path = legacy_checkpoint(tmp_path / "old.pth", {"w": Tensor(Storage("0", 1 << 30), 0, [4], [1])},
                             {"0": bytes(16)})
    with pytest.raises(CheckpointError, match="storages declare 4294967296 bytes, more than the whole file"):
        safe_torch_load(path)


def test_honest_checkpoints_still_load(tmp_path):
    torch.save({"weight": {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(3).half()},
                "tied": [torch.zeros(2)] * 2, "config": [1, "x"]}, tmp_path / "ok.pth")
    obj = safe_torch_load(tmp_path / "ok.pth")
    assert obj["weight"]["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and obj["config"] == [1, "x"]
    torch.save({"w": torch.ones(5)}, tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    assert safe_torch_load(tmp_path / "old.pth")["w"].sum() == 5


def test_shared_config_graph_converts_in_linear_time():
    node: list = ["leaf"]
    for _ in range(60):  # 2^60 paths through 60 shared lists
        node = [node, node]
    out = inert_to_dict({"cfg": node})
    assert out["cfg"][0] is out["cfg"][1]


PEAK = """
import resource, sys
from haysay.nodes.vc.safe_load import CheckpointError, safe_torch_load
try:
    safe_torch_load(sys.argv[1])
except CheckpointError as exc:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def peak_rss(path: Path) -> int:
    out = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


def test_hostile_files_cost_little_memory(tmp_path):
    """Peak memory over a process that loads an honest file: under 2x the file size + 200 MB."""
    torch.save({"w": torch.zeros(4)}, tmp_path / "ok.pth")
    baseline = peak_rss(tmp_path / "ok.pth")
    bomb = deflated_bomb(tmp_path)
    extra = peak_rss(bomb) - baseline
    assert extra < 2 * bomb.stat().st_size + (200 << 20), f"{extra / 2**20:.0f} MB over the baseline"


_INFLATED_CONFIG = r'''
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
from haysay.nodes.vc.rvc.checkpoint import build_rvc_model, read_rvc_checkpoint
from haysay.nodes.vc.safe_load import CheckpointError
try:
    build_rvc_model(read_rvc_checkpoint(sys.argv[1]))
except CheckpointError as exc:
    print("refused:", exc)
'''


def test_config_that_asks_for_gigabytes_is_refused_before_building(tmp_path):
    """An RVC file's positional config is trusted by no one: here it claims 50M-wide feed-forward layers
    (about 19 GB of weights) beside a few KB of real ones. The network is sized on the meta device first,
    so the refusal costs no memory (the subprocess is capped at 6 GB of address space)."""
    from haysay.nodes.vc.rvc.checkpoint import save_rvc_checkpoint
    from haysay.nodes.vc.rvc.models import RVCConfig, rvc_synthesizer

    tiny = [1025, 32, 16, 16, 32, 2, 2, 3, 0, "1", [3, 5], [[1, 3], [1, 3]], [10, 10, 2, 2], 32, [16, 16, 4, 4],
            2, 8, 40000]
    path = save_rvc_checkpoint(tmp_path / "m.pth", rvc_synthesizer(RVCConfig.from_list(tiny), "v2", True), "v2")
    obj = torch.load(path, weights_only=True)
    obj["config"][4] = 50_000_000  # filter_channels
    torch.save(obj, path)
    out = subprocess.run([sys.executable, "-c", _INFLATED_CONFIG, str(path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused:" in out.stdout and "ffn_layers" in out.stdout and "50000000" in out.stdout


def test_models_install_refuses_a_hostile_file_before_loading_it(tmp_path, monkeypatch):
    """Install-time detection runs the same size check as the adapters' loader: the overlapping-views file
    (200 x 4 MB views of one 4 MB record) is refused by name, and nothing is installed."""
    from haysay.graph_engine.models import ModelStore
    from haysay.graph_engine.models.errors import ModelError

    storage = Storage("0", 1 << 20)
    views = {"weight": {f"w{i}": Tensor(storage, 0, [1 << 20], [1]) for i in range(200)},
             "config": [1], "version": "v2"}
    path = zip_checkpoint(tmp_path / "voice.pth", views, {"0": bytes(4 << 20)})
    monkeypatch.setenv("HAYSAY_HOME", str(tmp_path / "home"))
    store = ModelStore.from_env()
    with pytest.raises(ModelError, match="voice.pth is refused: its tensors are views of 838860800 bytes"):
        store.install(str(path))
    assert store.list() == []
