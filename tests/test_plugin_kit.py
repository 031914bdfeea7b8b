"""The adapter plug-in kit: examples/plugin pip-installs, registers through its entry points, and passes
the adapter conformance checks (docs/adapters.md); lifecycle is declared, listed and warned about.

The checks below are the ones tests/nodes/vc/adapters/test_conformance.py applies to the built-in
adapters (output rate and duration, a real signal, the control measured, a warm second load, bad files
refused naming the file on its params field), plus the contract's declarations, written against any
node type so a plug-in's own CI can run them the same way.
"""
from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from haysay.graph_engine import contract, parse_pipeline, plan
from haysay.graph_engine.contract import Lifecycle, NodeContext, default_registry
from haysay.graph_engine.values import Audio

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """examples/plugin installed with pip into a folder put on sys.path (its dist-info carries the
    entry points), then haysay's registry rebuilt from the entry-point groups."""
    work = tmp_path_factory.mktemp("plugin")
    shutil.copytree(ROOT / "examples" / "plugin", work / "src")  # pip builds in place; keep the repo clean
    site = work / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                           str(work / "src")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    registry = default_registry(reload=True)
    yield registry
    sys.path.remove(str(site))
    contract._DECLARED.pop("example.fir", None)
    for name in [m for m in sys.modules if m.startswith("haysay_example_fir")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    default_registry(reload=True)


@pytest.fixture(scope="module")
def speech():
    from haysay.nodes.tts.espeak import synthesize_espeak

    return synthesize_espeak("Hello there, this is a quick test of an adapter plug-in.")


def check_contract(spec) -> None:
    """What every adapter declares: typed params (extra forbidden, every field described, defaults valid),
    Audio ports, a GPU tag, its memory, a lifecycle, a description, and a JSON-able describe()."""
    assert spec.params.model_config.get("extra") == "forbid"
    for name, field in spec.params.model_fields.items():
        assert field.description, f"{spec.type}: param {name!r} has no description"
    assert "audio" in spec.inputs and "audio" in spec.outputs
    assert isinstance(spec.gpu, bool) and spec.memory_declared
    assert isinstance(spec.lifecycle, Lifecycle) and spec.lifecycle.upstream and spec.lifecycle.licence
    assert spec.lifecycle.versions and spec.description
    json.dumps(spec.describe())


def check_conversion(spec, params: dict, speech: Audio, rate: int | None = None, **inputs) -> Audio:
    """Rate, duration, a real bounded signal, and a warm second load."""
    out = spec.call(params, ctx=NodeContext(), audio=speech, **inputs)["audio"]
    y = out.mono()
    assert out.sample_rate == (rate or speech.sample_rate)
    assert out.duration == pytest.approx(speech.duration, abs=0.02)
    assert np.isfinite(y).all() and np.abs(y).max() <= 1.0 and np.sqrt(np.mean(y ** 2)) > 1e-3
    ctx = NodeContext()
    spec.call(params, ctx=ctx, audio=speech, **inputs)
    assert ctx.info["model_load"] and all(e["warm"] for e in ctx.info["model_load"].values())
    return out


def check_bad_files(spec, params: dict, field: str, files: dict[str, tuple[Path, str]], speech: Audio,
                    **inputs) -> None:
    """Each bad file is refused before any audio is made, on `field`, naming the file and the problem."""
    for label, (path, pattern) in files.items():
        with pytest.raises(ValueError, match=pattern) as err:
            spec.call({**params, field: str(path)}, audio=speech, **inputs)
        assert getattr(err.value, "field", None) == field, label
        assert path.name in str(err.value), label


def band_energy(y: np.ndarray, rate: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / rate)
    return float(spec[(f >= lo) & (f < hi)].sum())


def test_plugin_installs_and_registers(plugin):
    assert "example.fir" in plugin and "vc.openvoice" in plugin  # the built-ins stay
    from haysay.graph_engine.models.detect import DETECTOR_GROUP
    from importlib.metadata import entry_points

    assert "example_fir" in {ep.name for ep in entry_points(group="haysay.nodes")}
    assert "example_fir" in {ep.name for ep in entry_points(group=DETECTOR_GROUP)}


def test_plugin_passes_the_conformance_checks(plugin, speech, tmp_path):
    from haysay_example_fir.model import save_model

    spec = plugin["example.fir"]
    check_contract(spec)
    bright = save_model(tmp_path / "bright.fir", [1.0, -0.9])
    out = check_conversion(spec, {"model": str(bright)}, speech)
    # the control, measured: the differencing filter moves energy from below 500 Hz to above 3 kHz
    x = speech.mono()
    ratio_in = band_energy(x, speech.sample_rate, 3000, 8000) / band_energy(x, speech.sample_rate, 50, 500)
    ratio_out = band_energy(out.mono(), out.sample_rate, 3000, 8000) / band_energy(out.mono(), out.sample_rate, 50, 500)
    assert ratio_out > 10 * ratio_in
    dry = spec.call({"model": str(bright), "mix": 0.0}, audio=speech)["audio"]
    assert np.abs(dry.mono() - x).max() < 1e-6

    (tmp_path / "truncated.fir").write_text(bright.read_text()[:20])
    (tmp_path / "other.fir").write_text(json.dumps({"format": "something-else", "taps": [1]}))
    (tmp_path / "huge_gain.fir").write_text(json.dumps({"format": "haysay-example-fir/1", "taps": [1],
                                                        "gain_db": 90}))
    check_bad_files(spec, {"model": str(bright)}, "model", {
        "truncated": (tmp_path / "truncated.fir", "damaged or not JSON"),
        "wrong-format": (tmp_path / "other.fir", "not an example-fir model"),
        "bad-value": (tmp_path / "huge_gain.fir", "gain_db"),
        "missing": (tmp_path / "nowhere.fir", "is not a file")}, speech)


def test_plugin_memory_declaration_covers_the_measured_peak(plugin, speech, tmp_path):
    from haysay_example_fir.model import save_model

    spec = plugin["example.fir"]
    model = save_model(tmp_path / "m.fir", np.hanning(64) / 32)
    spec.call({"model": str(model)}, audio=speech)  # warm: the peak below is the conversion's own
    tracemalloc.start()
    spec.call({"model": str(model)}, audio=speech)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_sample = peak / speech.data.size
    assert 8 < per_sample <= spec.memory, f"measured {per_sample:.1f} B/sample, declared {spec.memory}"


def test_plugin_model_is_detected_installed_and_run_by_name(plugin, speech, tmp_path, haysay_home):
    from haysay.graph_engine.models import ModelStore
    from haysay_example_fir.model import save_model

    installed = ModelStore.from_env().install(str(save_model(tmp_path / "warm.fir", [0.5, 0.5])), name="warm")
    assert (installed.architecture, installed.version) == ("example_fir", "1")
    out = plugin["example.fir"].call({"model": "warm"}, audio=speech)["audio"]
    x = speech.mono()
    want = np.convolve(x.astype(np.float64), [0.5, 0.5])[: len(x)]
    assert np.abs(out.mono() - want).max() < 1e-6


def test_doctor_lists_every_adapter_lifecycle(plugin):
    from haysay.cli.models import _lifecycles

    found = {a["type"]: a for a in _lifecycles()}
    assert found["example.fir"]["licence"] == "MIT" and found["example.fir"]["status"] == "supported"
    assert found["vc.rvc"]["upstream"].startswith("RVC-Project/") and found["vc.sovits"]["licence"].startswith("AGPL")
    assert found["vc.openvoice"]["versions"] == ["v1", "v2"]
    out = subprocess.run([sys.executable, "-c", "from haysay.cli import main; main(['doctor'])"],
                         capture_output=True, text=True, timeout=120)
    assert "vc.openvoice: myshell-ai/OpenVoice v1/v2, supported, MIT" in out.stdout


def _doc(node_type: str):
    return parse_pipeline({"format": "haysay.pipeline/1", "nodes": [
        {"id": "t", "type": "gen.tone"}, {"id": "a", "type": node_type, "params": {"model": "x"}}],
        "edges": [{"from": "t.audio", "to": "a.audio"}], "inputs": {}, "outputs": {"out": "a.audio"}})


@pytest.mark.parametrize("status,words", [("deprecated", "is deprecated"), ("end-of-life", "end of life")])
def test_deprecated_adapter_warns_at_validation(plugin, status, words):
    base = plugin["example.fir"]
    registry = contract.Registry()
    for spec in plugin:
        registry.add(spec)
    old = contract.NodeSpec(**{**{k: getattr(base, k) for k in (
        "fn", "params", "inputs", "outputs", "category", "gpu", "memory", "fingerprint")},
        "type": "example.fir_old", "lifecycle": Lifecycle("haysay examples/plugin", ("0",), status, "MIT",
                                                          "use example.fir")})
    registry.add(old)
    p = plan(_doc("example.fir_old"), registry=registry, check_files=False)
    assert p.ok
    (w,) = [w for w in p.warnings if w.code == "lifecycle_warning"]
    assert w.node == "a" and words in w.message and "use example.fir" in w.message
    assert not [w for w in plan(_doc("example.fir"), registry=registry, check_files=False).warnings
                if w.code == "lifecycle_warning"]
    with pytest.raises(ValueError, match="lifecycle status"):
        Lifecycle("x", status="retired")
