"""Compiled graphs built at install time (nodes.vc.prepare, `haysay models install | prepare`): an RVC or
so-vits model saved by upstream's own export code gets its decoder and content-encoder graphs exported
and checked against torch when installed, and its first run reuses them with torch's output."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from haysay.cli import EXIT_INVALID, main
from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.graph_engine.warm_pool import reset_default_pools

REPO = Path(__file__).resolve().parents[4]
UPSTREAM = Path(os.environ.get("HAYSAY_UPSTREAM_FIXTURES") or REPO.parent / "shared" / "fixtures" / "upstream")
LSB = 1 / 32768


def upstream(*parts: str) -> Path:
    path = UPSTREAM.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"upstream reference data not found at {path} (set HAYSAY_UPSTREAM_FIXTURES)")
    return path


@pytest.fixture
def compiled(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "compiled"
    monkeypatch.setenv("HAYSAY_COMPILED", str(path))
    return path


def graphs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.onnx")) if folder.is_dir() else []


def convert(node: str, params: dict, audio) -> tuple[np.ndarray, dict]:
    ctx = NodeContext()
    out = default_registry()[node].call(params, ctx=ctx, audio=audio)["audio"]
    return out.numpy()[0].astype(np.float64), ctx.info[node.split(".")[1]]


@pytest.mark.parametrize("arch,source,extra", [
    ("rvc", ("rvc", "v2-40k.pth"), {}),
    ("sovits", ("sovits", "4.1"), {}),
], ids=["rvc-v2-40k", "sovits-4.1"])
def test_install_builds_the_graphs_and_the_first_run_reuses_them(haysay_home, compiled, encoder_files, speech,
                                                                 capsys, tmp_path, arch, source, extra):
    src = upstream(*source)
    assert main(["models", "install", str(encoder_files["fairseq"]), "--name", "hubert", "--arch",
                 "content_encoder"]) == 0
    assert graphs(compiled) == []
    assert main(["models", "install", str(src), "--name", "voice"]) == 0
    out = capsys.readouterr()
    assert "building 'voice''s graphs" in out.err and "graphs ready in" in out.out, out
    assert "decoder onnx (relL2 vs torch" in out.out and "content encoder onnx (layers 12" in out.out
    built = graphs(compiled)
    kind = {"rvc": "RVCSynthesizer", "sovits": "SovitsSynthesizer"}[arch]
    assert len(built) == 2 and any(f"-{kind}-dec-" in n for n in built) and \
        any("-ContentEncoder-layer12-" in n for n in built)
    mtimes = {n: (compiled / n).stat().st_mtime_ns for n in built}

    # the user's first conversion, in a process of its own (nothing pooled): the graphs come from the
    # cache, and give torch's output
    reset_default_pools()
    got, info = convert(f"vc.{arch}", {"model": "voice", **extra}, speech[0])
    assert info["decoder"]["backend"] == "onnx" and info["decoder"]["built"] is False
    assert [layer["built"] for layer in info["content_encoder"]["layers"].values()] == [False]
    assert {n: (compiled / n).stat().st_mtime_ns for n in graphs(compiled)} == mtimes
    ref, ref_info = convert(f"vc.{arch}", {"model": "voice", "backend": "torch", **extra}, speech[0])
    assert ref_info["decoder"]["backend"] == "torch" and got.shape == ref.shape and np.abs(ref).max() > 0.01
    assert np.abs(got - ref).max() <= 4 * LSB and np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-4


def test_a_voice_installed_before_its_encoder_is_prepared_later(haysay_home, compiled, encoder_files, rvc_files,
                                                                 capsys):
    assert main(["models", "install", str(rvc_files[("v2", True)]), "--name", "early"]) == 0
    out = capsys.readouterr().out
    assert "installed 'early': rvc v2" in out  # the install stands
    assert "graphs not built now (ModelRefError: content_encoder: no content encoder is installed" in out
    assert graphs(compiled) == []
    assert main(["models", "prepare"]) == 1  # nothing could be built yet: said, and a failing exit
    assert "early: graphs not built now" in capsys.readouterr().out

    assert main(["models", "install", str(encoder_files["fairseq"]), "--name", "hubert", "--arch",
                 "content_encoder"]) == 0
    assert "or now: haysay models prepare" in capsys.readouterr().out
    assert main(["models", "prepare"]) == 0
    assert "early: graphs ready in" in capsys.readouterr().out
    assert len(graphs(compiled)) == 2
    reset_default_pools()
    assert main(["models", "prepare", "early", "--json"]) == 0  # again: the cached graphs, checked
    result = json.loads(capsys.readouterr().out)["early"]
    assert result["prepared"] and result["decoder"]["built"] is False and result["decoder"]["probe_rel_l2"] < 1e-5
    assert sorted(Path(g).name for g in result["graphs"]) == graphs(compiled)


def test_no_prepare_and_models_without_graphs(haysay_home, compiled, encoder_files, rvc_files, capsys, tmp_path):
    assert main(["models", "install", str(encoder_files["fairseq"]), "--name", "hubert", "--arch",
                 "content_encoder"]) == 0
    assert main(["models", "install", str(rvc_files[("v1", False)]), "--name", "later", "--no-prepare"]) == 0
    assert "graphs" not in capsys.readouterr().out and graphs(compiled) == []
    assert main(["models", "prepare", "hubert"]) == 1
    assert "hubert: content_encoder runs no compiled graphs" in capsys.readouterr().out
    assert main(["models", "prepare", "not-installed"]) == EXIT_INVALID
    assert "not-installed" in capsys.readouterr().err
    assert main(["models", "prepare", "later", "--backend", "onnx"]) == 0  # v1 without f0: layer 9 + final_proj
    assert "later: graphs ready in" in capsys.readouterr().out
    assert any("-layer9-" in n for n in graphs(compiled))


def test_a_graph_that_fails_its_check_is_not_kept(haysay_home, compiled, encoder_files, rvc_files, capsys,
                                                 monkeypatch):
    from haysay.nodes.vc import backend

    assert main(["models", "install", str(encoder_files["fairseq"]), "--name", "hubert", "--arch",
                 "content_encoder"]) == 0
    monkeypatch.setattr(backend, "TOLERANCE", 0.0)  # every graph is then out of tolerance
    assert main(["models", "install", str(rvc_files[("v2", False)]), "--name", "strict"]) == 0
    out = capsys.readouterr().out
    assert "decoder torch (onnx out of tolerance" in out and graphs(compiled) == []
    assert main(["models", "prepare", "strict", "--backend", "onnx"]) == 1
    out = capsys.readouterr().out
    assert "strict: no graph kept (BackendError: backend: the onnx graph differs from torch" in out
    assert "with backend auto this model runs torch" in out and graphs(compiled) == []
    shutil.rmtree(compiled, ignore_errors=True)


def test_the_studio_builds_the_graphs_when_it_installs(haysay_home, compiled, encoder_files):
    from haysay.graph_engine.models import ModelStore
    from haysay.studio.pages.catalogue_view import prepared_note

    store = ModelStore.from_env()
    encoder = store.install(str(encoder_files["fairseq"]), name="hubert", architecture="content_encoder")
    assert prepared_note(encoder) == ""  # nothing to build for it
    voice = store.install(str(upstream("rvc", "v1-40k.pth")), name="voice")
    note = prepared_note(voice)
    assert note.startswith("; graphs ready in") and "decoder onnx" in note and "layers 9" in note, note
    assert len(graphs(compiled)) == 2
