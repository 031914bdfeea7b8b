"""vc.rvc's pipeline against RVC WebUI 20240604's own `VC.vc_single` outputs (README: rvc/pipeline.npz),
on upstream-written models and indexes loaded by haysay's loaders, the stub content encoder, noise
zeroed, and upstream's pitch injected as the tracker's output."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from haysay.nodes.vc.retrieval import read_feature_index
from haysay.nodes.vc.rvc.checkpoint import load_rvc_model
from haysay.nodes.vc.rvc.pipeline import FP32_SETTINGS, RVCOptions, change_rms, convert_rvc

from .conftest import StubEncoder, case_params, load_npz, rel_l2, upstream_path

CASES = ("v2_8s_plain", "v2_8s_index", "v2_8s_index_key5", "v2_8s_index_rms025", "v2_8s_peak_index",
         "v1_8s_protect05_key5", "v1_8s_index_rms025", "v2_long_index", "v1_long_rms025_key5")


@functools.cache
def _pipeline_data() -> dict[str, np.ndarray]:
    return load_npz("rvc", "pipeline.npz")


@functools.cache
def _model(name: str):
    return load_rvc_model(upstream_path("rvc", name))


@functools.cache
def _index(name: str):
    return read_feature_index(upstream_path("rvc", name))


@functools.cache
def _stub() -> StubEncoder:
    return StubEncoder()


def as_upstream_int16(audio: np.ndarray) -> np.ndarray:
    """Upstream's last step on haysay's (already peak-limited) float output: x 32768, truncated."""
    return (audio * 32768).astype(np.int16)


@pytest.mark.parametrize("rate", ["0.25", "0.75"])
def test_change_rms_matches_upstream(rate):
    data = load_npz("rvc", "change_rms.npz")
    out = change_rms(data["data1"].astype(np.float64), int(data["sr1"]), data["data2"].copy(), int(data["sr2"]),
                     float(rate))
    assert out.dtype == np.float32
    assert rel_l2(out, data[f"out_rate{rate}"]) < 1e-5


def _run_case(case: str, seed: int = 0):
    data = _pipeline_data()
    params = case_params(data)[case]
    ckpt, model = _model(params["model"])
    index = _index(params["file_index"]) if params["file_index"] else None
    shift = 2.0 ** (params["f0_up_key"] / 12)
    upstream_f0 = data[f"{case}__pitchf"].astype(np.float64) / shift
    tracked = []

    def tracker(x_padded: np.ndarray, frames: int) -> np.ndarray:
        tracked.append(frames)
        return upstream_f0

    opts = RVCOptions(speaker_id=params["sid"], pitch_shift=params["f0_up_key"], f0_method=params["f0_method"],
                      index_rate=params["index_rate"], filter_radius=params["filter_radius"],
                      rms_mix_rate=params["rms_mix_rate"], protect=params["protect"], seed=seed,
                      resample_sr=params["resample_sr"], f0_tracker=tracker)
    audio = data[params["input"]].astype(np.float32) / 32768  # load_audio's float32
    result = convert_rvc(audio, model, ckpt.version, _stub(), opts, index, "cpu", FP32_SETTINGS)
    assert tracked == [upstream_f0.size]
    return data, params, result


@pytest.mark.parametrize("case", CASES)
def test_pipeline_matches_upstream_vc_single(case, upstream_noise):
    with upstream_noise("zero"):
        data, params, result = _run_case(case)
    ref = data[f"{case}__out"]
    assert result.sample_rate == params["sample_rate"]
    assert result.info["segments"] == data[f"{case}__segments"].tolist()
    got = as_upstream_int16(result.audio)
    assert got.shape == ref.shape
    diff = np.abs(got.astype(np.int32) - ref.astype(np.int32))
    err = rel_l2(got, ref)
    print(f"{case}: max {diff.max()} LSB, relL2 {err:.2e}")
    assert diff.max() <= 4 and err < 1e-3
    # the decoder was driven by upstream's shifted pitch, the padding trimmed off
    pad = 100 * FP32_SETTINGS.x_pad
    np.testing.assert_allclose(result.f0, data[f"{case}__pitchf"][pad:-pad], rtol=1e-6)


def test_same_seed_is_bit_identical_and_seeds_differ():
    """Real noise (no patch): the prior and NSF noise come from the `seed`, nothing else."""
    data = _pipeline_data()
    ckpt, model = _model("v2-40k.pth")
    audio = data["input_8s"][8000:24000].astype(np.float32) / 32768
    f0 = np.full(audio.size // 160 + 200, 160.0)
    run = lambda seed: convert_rvc(audio, model, ckpt.version, _stub(),  # noqa: E731
                                   RVCOptions(seed=seed, f0_tracker=lambda x, n: f0[:n]), None, "cpu").audio
    first, again, other = run(7), run(7), run(8)
    assert np.array_equal(first, again)
    assert rel_l2(other, first) > 0.01
