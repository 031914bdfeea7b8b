"""vc.rvc's seed and device handling: a seed gives the same output every run, precision and segmenting
follow the device as the RVC WebUI's config chooses them, and the fp16 CUDA path runs (where CUDA is)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.nodes.vc.rvc.checkpoint import read_rvc_checkpoint, save_rvc_checkpoint
from haysay.nodes.vc.rvc.pipeline import (FP16_SETTINGS, FP32_SETTINGS, DeviceSettings, device_settings,
                                          gpu_prefers_fp32, select_settings)

from .conftest import measured_f0, tiny_rvc


@pytest.fixture(scope="module")
def noisy_rvc(tmp_path_factory):
    """A tiny v2 model with random decoder weights, so both the prior and the NSF noise reach the output."""
    return save_rvc_checkpoint(tmp_path_factory.mktemp("rvc_noisy") / "noisy.pth", tiny_rvc("v2", True, False), "v2")


def _convert(model, encoder, audio, **params):
    ctx = NodeContext()
    out = default_registry()["vc.rvc"].call({"model": str(model), "content_encoder": str(encoder), **params},
                                            ctx=ctx, audio=audio)["audio"]
    return out, ctx.info["rvc"]


def test_a_seed_gives_bit_identical_output_and_seeds_differ(noisy_rvc, encoder_files, speech):
    runs = {seed: _convert(noisy_rvc, encoder_files["fairseq"], speech[0], seed=seed, index_rate=0.0)[0]
            for seed in (5, 6)}
    again, info = _convert(noisy_rvc, encoder_files["fairseq"], speech[0], seed=5, index_rate=0.0)
    assert info["precision"] == "fp32" or torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert np.array_equal(runs[5].data, again.data)
    a, b = runs[5].mono().astype(np.float64), runs[6].mono().astype(np.float64)
    assert np.linalg.norm(a - b) / np.linalg.norm(a) > 0.01


def test_resample_sr_sets_the_output_rate(rvc_files, encoder_files, speech):
    model_rate, _ = _convert(rvc_files[("v2", True)], encoder_files["fairseq"], speech[0])
    out, _ = _convert(rvc_files[("v2", True)], encoder_files["fairseq"], speech[0], resample_sr=16000)
    assert model_rate.sample_rate == 40000 and out.sample_rate == 16000
    assert out.data.shape[-1] == int(np.ceil(model_rate.data.shape[-1] * 0.4))
    # the tiny model's output is its sine source: the pitch survives the rate change
    assert abs(measured_f0(out.mono(), 16000) / measured_f0(model_rate.mono(), 40000) - 1) < 0.02


def test_bad_precision_and_rate_name_the_field(rvc_files, encoder_files, speech):
    with pytest.raises(ValueError, match="resample_sr"):
        _convert(rvc_files[("v2", True)], encoder_files["fairseq"], speech[0], resample_sr=8000)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="precision: fp16 runs on a CUDA device only"):
            _convert(rvc_files[("v2", True)], encoder_files["fairseq"], speech[0], precision="fp16")


@pytest.mark.parametrize("args,want", [
    (("cpu",), FP32_SETTINGS),
    (("mps",), FP32_SETTINGS),
    (("cuda", "auto", "NVIDIA H200", 141), FP16_SETTINGS),
    (("cuda", "auto", "Tesla V100-SXM2-16GB", 16), FP16_SETTINGS),  # "16" but a V100: fp16
    (("cuda", "auto", "NVIDIA GeForce GTX 1660 Ti", 6), FP32_SETTINGS),
    (("cuda", "auto", "Tesla P40", 24), FP32_SETTINGS),
    (("cuda", "auto", "NVIDIA GeForce GTX 1080", 8), FP32_SETTINGS),
    (("cuda", "fp32", "NVIDIA H200", 141), FP32_SETTINGS),
    (("cuda", "fp16", "NVIDIA GeForce GTX 1660 Ti", 6), FP16_SETTINGS),
    (("cuda", "auto", "NVIDIA GeForce RTX 3050", 4), DeviceSettings(True, 1, 5, 30, 32)),  # small GPU
    (("cuda", "auto", "NVIDIA GeForce GTX 1650", 4), DeviceSettings(False, 1, 5, 30, 32)),
])
def test_settings_follow_the_webui_device_config(args, want):
    assert select_settings(*args) == want


def test_cpu_settings_are_upstreams_fp32_values():
    assert device_settings("cpu") == DeviceSettings(False, 1, 6, 38, 41)
    assert device_settings("cpu", "fp32") == FP32_SETTINGS
    assert gpu_prefers_fp32("Quadro P1000") and not gpu_prefers_fp32("NVIDIA A100-SXM4-80GB")
    with pytest.raises(ValueError, match="precision: 'bf16' is not one of"):
        select_settings("cpu", "bf16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (fp16 path)")
def test_cuda_runs_fp16_with_the_webuis_gpu_segments(rvc_files, encoder_files, speech):
    from haysay.nodes.vc.content.checkpoint import read_content_encoder
    from haysay.nodes.vc.rvc.checkpoint import build_rvc_model
    from haysay.nodes.vc.rvc.pipeline import RVCOptions, convert_rvc

    settings = device_settings("cuda")
    if not settings.half:
        pytest.skip(f"{torch.cuda.get_device_name()} runs fp32 in the WebUI")
    assert (settings.x_pad, settings.x_max) in ((3, 65), (1, 32))
    out, info = _convert(rvc_files[("v2", True)], encoder_files["fairseq"], speech[0])
    assert info["precision"] == "fp16" and info["device"] == "cuda"
    fp32_out, _ = _convert(rvc_files[("v2", True)], encoder_files["fairseq"], speech[0], precision="fp32")
    assert out.data.shape == fp32_out.data.shape and np.isfinite(out.data).all()
    # fp16 changes the samples, not the voice: the sine source's pitch is the same
    assert abs(measured_f0(out.mono(), 40000) / measured_f0(fp32_out.mono(), 40000) - 1) < 0.02
    # the models really are half, and the pipeline refuses a mismatch
    ckpt = read_rvc_checkpoint(rvc_files[("v2", True)])
    model = build_rvc_model(ckpt, "cuda", half=True)
    assert next(model.parameters()).dtype == torch.float16
    enc = read_content_encoder(encoder_files["fairseq"]).to("cuda").half()
    x16 = np.asarray(speech[1], np.float32)
    res = convert_rvc(x16, model, "v2", enc, RVCOptions(), None, "cuda")
    assert res.info["half"] and np.isfinite(res.audio).all()
    with pytest.raises(ValueError, match="precision: the model is fp16"):
        convert_rvc(x16, model, "v2", enc, RVCOptions(), None, "cuda", FP32_SETTINGS)
