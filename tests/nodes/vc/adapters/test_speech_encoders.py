"""so-vits-svc 4.1 speech encoders beyond ContentVec: hubertsoft, cnhubertlarge, wavlmbase+, whisper-ppg.

Each checkpoint is written in its upstream file layout (same keys and nesting, tiny widths),
read back through the restricted loader, run on espeak speech, then used by vc.sovits.
"""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from haysay.graph_engine.contract import default_registry
from haysay.graph_engine.models.detect import detect
from haysay.nodes.vc.content.checkpoint import save_transformers_folder
from haysay.nodes.vc.content.hubert import ContentEncoder, HubertConfig
from haysay.nodes.vc.content.soft import SoftHubert, encoder_state_to_soft
from haysay.nodes.vc.content.speech_encoders import read_speech_encoder, speech_features
from haysay.nodes.vc.content.wavlm import WavLMConfig, WavLMEncoder, encoder_state_to_microsoft, microsoft_config
from haysay.nodes.vc.content.whisper import WhisperDims, WhisperEncoder, log_mel
from haysay.nodes.vc.safe_load import CheckpointError
from haysay.nodes.vc.sovits.checkpoint import read_sovits_config, save_sovits_files

from .conftest import TINY_CONV, save_fairseq_pickle, tiny_sovits


def _soft_encoder() -> SoftHubert:
    torch.manual_seed(11)
    return SoftHubert(HubertConfig(embed_dim=192, num_layers=2, num_heads=12, ff_dim=32, conv_layers=TINY_CONV,
                                   pos_conv_kernel=16, pos_conv_groups=4, final_proj_dim=256)).eval()


def _soft_state(encoder: SoftHubert) -> dict[str, torch.Tensor]:
    """bshall's training output: a DDP state dict with the label embedding and mask vector."""
    state = encoder_state_to_soft(encoder)
    state["masked_spec_embed"] = torch.rand(encoder.cfg.embed_dim)
    state["label_embedding.weight"] = torch.randn(100, 256)
    return {"module." + k: v for k, v in state.items()}


@pytest.fixture(scope="module")
def encoders(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("speech_encoders")
    soft = _soft_encoder()
    torch.save(_soft_state(soft), root / "hubert-soft-0d54a1f4.pt")                # v0.1: bare state dict
    torch.save({"hubert": _soft_state(soft), "step": 25000, "loss": 1.5}, root / "hubert-soft-35d9f29f.pt")

    torch.manual_seed(12)  # chinese-hubert-large's shape: pre-norm layers, layer-normed conv stack with bias
    large = ContentEncoder(HubertConfig(embed_dim=32, num_layers=3, num_heads=4, ff_dim=64, conv_layers=TINY_CONV,
                                        conv_bias=True, extractor_mode="layer_norm", layer_norm_first=True,
                                        pos_conv_kernel=16, pos_conv_groups=4, final_proj_dim=24)).eval()
    with torch.no_grad():  # an identity closing norm: its effect (zero mean, unit variance per frame) is measurable
        large.model.encoder.transformer.layer_norm.weight.fill_(1.0)
        large.model.encoder.transformer.layer_norm.bias.zero_()
    save_fairseq_pickle(root / "chinese-hubert-large-fairseq-ckpt.pt", large)
    save_transformers_folder(root / "chinese-hubert-large", large)  # TencentGameMate's HubertModel folder

    torch.manual_seed(13)
    wavlm = WavLMEncoder(WavLMConfig(embed_dim=48, num_layers=2, num_heads=4, ff_dim=64, conv_layers=TINY_CONV,
                                     pos_conv_kernel=16, pos_conv_groups=4, num_buckets=32, max_distance=100)).eval()
    torch.save({"cfg": microsoft_config(wavlm.cfg), "model": encoder_state_to_microsoft(wavlm)},
               root / "WavLM-Base+.pt")

    torch.manual_seed(14)
    whisper = WhisperEncoder(WhisperDims(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=4,
                                         n_audio_layer=2)).eval()
    state = {"encoder." + k: v.half() for k, v in whisper.state_dict().items()}
    state.update({"decoder.token_embedding.weight": torch.zeros(10, 64, dtype=torch.half),
                  "decoder.positional_embedding": torch.zeros(8, 64, dtype=torch.half)})
    dims = {"n_mels": 80, "n_vocab": 10, "n_audio_ctx": 1500, "n_audio_state": 64, "n_audio_head": 4,
            "n_audio_layer": 2, "n_text_ctx": 8, "n_text_state": 64, "n_text_head": 4, "n_text_layer": 1}
    torch.save({"dims": dims, "model_state_dict": state}, root / "medium.pt")
    return {"root": root, "soft": soft, "large": large, "wavlm": wavlm, "whisper": whisper,
            "hubertsoft": root / "hubert-soft-0d54a1f4.pt", "hubertsoft_v2": root / "hubert-soft-35d9f29f.pt",
            "cnhubertlarge": root / "chinese-hubert-large-fairseq-ckpt.pt",
            "cnhubertlarge_hf": root / "chinese-hubert-large", "wavlmbase+": root / "WavLM-Base+.pt",
            "whisper-ppg": root / "medium.pt"}


def _wav(speech, seconds: float | None = None) -> torch.Tensor:
    x = speech[1] if seconds is None else np.resize(speech[1], int(seconds * 16000))
    return torch.tensor(x, dtype=torch.float32)[None]


def _conv_frames(samples: int) -> int:
    """Frames of the unpadded HuBERT/WavLM conv stack: a 400-sample receptive field every 320 samples."""
    return (samples - 400) // 320 + 1


class _BshallReference(nn.Module):
    """bshall/hubert's forward written from its modules (nn.TransformerEncoderLayer, fused in_proj), loaded
    strictly from the checkpoint's own names: an independent check of the renaming onto torchaudio."""

    def __init__(self, state: dict[str, torch.Tensor], layers: int):
        super().__init__()
        embed = state["proj.weight"].shape[1]
        self.convs = nn.ModuleList(nn.Conv1d(*state[f"feature_extractor.conv{i}.weight"].shape[1::-1],
                                             state[f"feature_extractor.conv{i}.weight"].shape[2], s, bias=False)
                                   for i, s in enumerate((5, 2, 2, 2, 2, 2, 2)))
        channels = self.convs[0].out_channels
        self.norm0 = nn.GroupNorm(channels, channels)
        self.fp_norm, self.fp = nn.LayerNorm(channels), nn.Linear(channels, embed)
        k = state["positional_embedding.conv.weight_v"].shape[2]
        self.pos = nn.Conv1d(embed, embed, k, padding=k // 2, groups=embed // state["positional_embedding.conv.weight_v"].shape[1])
        self.norm = nn.LayerNorm(embed)
        layer = nn.TransformerEncoderLayer(embed, 12, state["encoder.layers.0.linear1.weight"].shape[0],
                                           dropout=0.0, activation="gelu", batch_first=True)
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(layers))
        self.proj = nn.Linear(embed, 256)
        g, v = state["positional_embedding.conv.weight_g"], state["positional_embedding.conv.weight_v"]
        own = {f"convs.{i}.weight": state[f"feature_extractor.conv{i}.weight"] for i in range(7)}
        own.update({"norm0.weight": state["feature_extractor.norm0.weight"], "norm0.bias": state["feature_extractor.norm0.bias"],
                    "fp_norm.weight": state["feature_projection.norm.weight"], "fp_norm.bias": state["feature_projection.norm.bias"],
                    "fp.weight": state["feature_projection.projection.weight"], "fp.bias": state["feature_projection.projection.bias"],
                    "pos.weight": g * v / v.norm(dim=(0, 1), keepdim=True), "pos.bias": state["positional_embedding.conv.bias"],
                    "norm.weight": state["norm.weight"], "norm.bias": state["norm.bias"],
                    "proj.weight": state["proj.weight"], "proj.bias": state["proj.bias"]})
        own.update({k[len("encoder."):]: t for k, t in state.items() if k.startswith("encoder.layers.")})
        self.load_state_dict(own, strict=True)

    @torch.no_grad()
    def units(self, wav: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.pad(wav, (40, 40))[:, None]
        x = torch.nn.functional.gelu(self.norm0(self.convs[0](x)))
        for conv in self.convs[1:]:
            x = torch.nn.functional.gelu(conv(x))
        x = self.fp(self.fp_norm(x.transpose(1, 2)))
        x = x + torch.nn.functional.gelu(self.pos(x.transpose(1, 2))[:, :, :-1]).transpose(1, 2)
        x = self.norm(x)
        for layer in self.layers:
            x = layer(x)
        return self.proj(x)


@pytest.mark.parametrize("file", ["hubertsoft", "hubertsoft_v2"])
def test_hubert_soft_matches_bshall_forward(encoders, speech, file):
    loaded = read_speech_encoder(encoders[file], "hubertsoft")
    wav = _wav(speech, 1.0)
    got = speech_features(loaded, "hubertsoft", wav)
    raw = {k[len("module."):]: v for k, v in torch.load(encoders["hubertsoft"], weights_only=True).items()}
    want = _BshallReference(raw, layers=2).eval().units(wav)
    assert got.shape == want.shape == (1, 50, 256)  # 1 s at 16 kHz: 50 fps after the 40-sample padding
    assert torch.allclose(got, want, atol=1e-4)


def test_cnhubertlarge_takes_the_normed_last_layer(encoders, speech):
    loaded = read_speech_encoder(encoders["cnhubertlarge"], "cnhubertlarge")
    assert loaded.cfg.layer_norm_first and loaded.cfg.num_layers == 3 and loaded.cfg.conv_bias
    wav = _wav(speech)
    got = speech_features(loaded, "cnhubertlarge", wav)[0]
    assert got.shape == (_conv_frames(wav.shape[1]), 32)
    assert torch.allclose(got.mean(-1), torch.zeros(got.shape[0]), atol=1e-4)
    assert torch.allclose(got.std(-1, unbiased=False), torch.ones(got.shape[0]), atol=1e-2)
    raw_last = loaded.features(wav, 3, False)[0]  # without the closing norm the frames are not normalised
    assert raw_last.std(-1, unbiased=False).sub(1).abs().max() > 0.1
    folder = read_speech_encoder(encoders["cnhubertlarge_hf"], "cnhubertlarge")  # do_stable_layer_norm
    assert torch.allclose(speech_features(folder, "cnhubertlarge", wav)[0], got, atol=1e-4)


def test_wavlm_loads_microsoft_names_and_runs_the_last_layer(encoders, speech):
    raw = torch.load(encoders["wavlmbase+"], weights_only=True)
    assert "encoder.layers.0.self_attn.relative_attention_bias.weight" in raw["model"]
    assert "encoder.layers.1.self_attn.grep_a" in raw["model"] and raw["cfg"]["gru_rel_pos"]
    loaded = read_speech_encoder(encoders["wavlmbase+"], "wavlmbase+")
    wav = _wav(speech)
    got = speech_features(loaded, "wavlmbase+", wav)
    assert got.shape == (1, _conv_frames(wav.shape[1]), 48)
    assert torch.allclose(got, encoders["wavlm"].features(wav), atol=1e-4)
    # the gated relative position bias is live: zeroing its table changes the output
    with torch.no_grad():
        loaded.model.encoder.transformer.layers[0].attention.rel_attn_embed.weight.zero_()
    assert not torch.allclose(speech_features(loaded, "wavlmbase+", wav), got, atol=1e-3)


def test_whisper_ppg_frames_windows_and_fp16_weights(encoders, speech):
    loaded = read_speech_encoder(encoders["whisper-ppg"], "whisper-ppg")
    assert loaded.conv1.weight.dtype == torch.float32
    wav = _wav(speech)
    got = speech_features(loaded, "whisper-ppg", wav)
    assert got.shape == (1, wav.shape[1] // 320, 64)
    mel = log_mel(torch.nn.functional.pad(wav[0], (0, 480000 - wav.shape[1])), 80)
    assert mel.shape == (80, 3000) and float(mel.max() - mel.min()) <= 2.0 + 1e-6  # 8 decades / 4
    long = _wav(speech, 31.0)  # past one 30 s window: a second window, frames continue at 50 fps
    out = speech_features(loaded, "whisper-ppg", long)
    assert out.shape == (1, 1550, 64)
    second = speech_features(loaded, "whisper-ppg", long[:, 480000:])[0]  # the last second, padded on its own
    assert torch.allclose(out[0, 1500:], second, atol=1e-4)


@pytest.mark.parametrize("name, file, want", [
    ("wavlmbase+", "whisper-ppg", r"a Whisper checkpoint, but speech_encoder 'wavlmbase\+' needs WavLM"),
    ("vec768l12", "hubertsoft", r"a HuBERT-Soft checkpoint, but speech_encoder 'vec768l12' needs HuBERT/ContentVec"),
    ("hubertsoft", "cnhubertlarge", r"a HuBERT/ContentVec checkpoint, but speech_encoder 'hubertsoft' needs HuBERT-Soft"),
    ("whisper-ppg", "wavlmbase+", r"WavLM-Base\+\.pt: a WavLM checkpoint, but .* needs Whisper \(whisper medium\.pt\)"),
])
def test_wrong_encoder_kind_is_named(encoders, name, file, want):
    with pytest.raises(CheckpointError, match=want):
        read_speech_encoder(encoders[file], name)


def test_broken_layouts_name_the_problem(encoders, tmp_path):
    raw = torch.load(encoders["wavlmbase+"], weights_only=True)
    raw["cfg"]["gru_rel_pos"] = False
    torch.save(raw, tmp_path / "wavlm.pt")
    with pytest.raises(CheckpointError, match="gru_rel_pos off"):
        read_speech_encoder(tmp_path / "wavlm.pt", "wavlmbase+")
    raw["cfg"]["gru_rel_pos"] = True
    del raw["model"]["encoder.layers.1.self_attn.k_proj.weight"]
    torch.save(raw, tmp_path / "wavlm.pt")
    with pytest.raises(CheckpointError, match=r"wavlm\.pt: missing weights encoder\.layers\.1\.self_attn\.k_proj\.weight"):
        read_speech_encoder(tmp_path / "wavlm.pt", "wavlmbase+")
    soft = torch.load(encoders["hubertsoft"], weights_only=True)
    del soft["module.encoder.layers.1.linear2.bias"]
    torch.save(soft, tmp_path / "soft.pt")
    with pytest.raises(CheckpointError, match=r"soft\.pt: missing weights .*layers\.1\.feed_forward\.output_dense\.bias"):
        read_speech_encoder(tmp_path / "soft.pt", "hubertsoft")


def test_dphubert_is_refused_by_name(sovits_files, tmp_path):
    cfg = json.loads((sovits_files["4.1"].parent / "config.json").read_text())
    cfg["model"]["speech_encoder"] = "dphubert"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"speech_encoder 'dphubert' is not supported \(DPHuBERT"):
        read_sovits_config(tmp_path / "config.json")


@pytest.mark.parametrize("name, file, dims", [("hubertsoft", "hubertsoft", 256), ("cnhubertlarge", "cnhubertlarge", 32),
                                              ("wavlmbase+", "wavlmbase+", 48), ("whisper-ppg", "whisper-ppg", 64)])
def test_sovits_runs_end_to_end_with_each_encoder(encoders, speech, tmp_path, name, file, dims):
    weights, config = save_sovits_files(tmp_path / name, tiny_sovits("4.1", ssl_dim=dims), "4.1", name)
    assert read_sovits_config(config).speech_encoder == name
    audio = speech[0]
    out = default_registry()["vc.sovits"].call({"model": str(weights), "content_encoder": str(encoders[file])},
                                               audio=audio)["audio"]
    assert out.sample_rate == 44100
    assert abs(out.duration - audio.duration) < 0.03
    assert float(np.sqrt(np.mean(out.mono() ** 2))) > 0.01


def test_models_install_detects_the_new_encoder_files(encoders, tmp_path):
    import shutil

    want = {"hubertsoft": "hubert_soft", "hubertsoft_v2": "hubert_soft", "wavlmbase+": "wavlm",
            "whisper-ppg": "whisper", "cnhubertlarge": "hubert"}
    for key, version in want.items():
        folder = tmp_path / key
        folder.mkdir()
        shutil.copy(encoders[key], folder / encoders[key].name)
        found = detect(folder)
        assert (found.architecture, found.version) == ("content_encoder", version), key
        assert found.roles[encoders[key].name] == "weights"
