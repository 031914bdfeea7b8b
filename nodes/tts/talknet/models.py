"""TalkNet 2's three networks (NeMo's TalkNetDursModel / TalkNetPitchModel / TalkNetSpectModel), built
natively from their `.nemo` configs, with NeMo's state-dict names.

Each is a token (or Gaussian-upsampled frame) embedding into a QuartzNet encoder (NeMo's ConvASREncoder of
JasperBlocks: depthwise-separable masked convs, batch norm, ReLU, squeeze-excite, 1x1 residuals) and a 1x1
projection. One utterance runs at a time at its full length, so the encoder's length masks are all ones
and are left out.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from haysay.graph_engine.models.checkpoint_limits import CheckpointError

# vocabs.Phonemes (nemo.collections.asr.data.vocabs) in TalkNet's configuration
CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T",
              "TH", "V", "W", "Y", "Z", "ZH")
VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
PUNCT = (",", ".", "!", "?", "-", ":", ";", "/", '"', "(", ")", "[", "]", "{", "}")


class Vocab:
    """Phoneme labels and the pad/blank/oov ids, laid out as vocabs.Phonemes lays them out."""

    def __init__(self, punct: bool = True, stresses: bool = False, chars: bool = False,
                 add_blank_at: str | None = "last_but_one", **_: Any):
        labels = [" ", *CONSONANTS]
        labels += [f"{v}{s}" for v in VOWELS for s in (0, 1, 2)] if stresses else list(VOWELS)
        if chars:
            labels += list("abcdefghijklmnopqrstuvwxyz")
        labels.append("'")
        if punct:
            labels += PUNCT
        self.space, self.stresses = 0, stresses
        self.pad, labels = len(labels), labels + ["<pad>"]
        self.blank, labels = len(labels), labels + ["<blank>"]
        self.oov, labels = len(labels), labels + ["<oov>"]
        if add_blank_at == "last":
            labels[-1], labels[-2] = labels[-2], labels[-1]
            self.oov, self.blank = self.blank, self.oov
        self.labels = labels
        self.ids = {label: i for i, label in enumerate(labels)}


def vocab_of(cfg: dict[str, Any], where: str) -> tuple[Vocab, bool]:
    """The model's vocabulary and whether it interleaves blanks (train_ds.dataset.vocab / blanking)."""
    dataset = ((cfg.get("train_ds") or {}).get("dataset") or {})
    opts = dataset.get("vocab") or {}
    if opts.get("notation", "phonemes") != "phonemes" or opts.get("add_blank_at", "last") is None:
        raise CheckpointError(where, f"vocabulary {opts} is not TalkNet's phoneme vocabulary")
    return Vocab(**opts), bool(dataset.get("blanking", True))


def interleave_blanks(tokens: torch.Tensor, blank: int) -> torch.Tensor:
    """AudioToCharWithDursF0Dataset.interleave with blanks: b t1 b t2 ... tn b."""
    out = torch.full((tokens.numel() * 2 + 1,), blank, dtype=torch.long)
    out[1::2] = tokens
    return out


# -- QuartzNet encoder (nemo.collections.asr.modules.ConvASREncoder) ------------------------------------------

class MaskedConv1d(nn.Module):
    """Holds the conv under `.conv` as NeMo's MaskedConv1d does; frames past the length are zeroed first
    (only a padded input, as the ASR aligner's preprocessor makes, has any)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        self.conv = nn.Conv1d(*args, **kwargs)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(x if mask is None else x * mask)


class SqueezeExcite(nn.Module):
    """Global-context squeeze-and-excitation (se_context_size -1)."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, channels // reduction, bias=False), nn.ReLU(),
                                nn.Linear(channels // reduction, channels, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x.float().mean(dim=-1, keepdim=True).transpose(1, -1)).transpose(1, -1)
        return x * torch.sigmoid(y)


def _conv_bn(c_in: int, c_out: int, kernel: int, dilation: int, separable: bool) -> list[nn.Module]:
    pad = dilation * (kernel - 1) // 2
    if separable:
        layers = [MaskedConv1d(c_in, c_in, kernel, dilation=dilation, padding=pad, groups=c_in, bias=False),
                  MaskedConv1d(c_in, c_out, 1, bias=False)]
    else:
        layers = [MaskedConv1d(c_in, c_out, kernel, dilation=dilation, padding=pad, bias=False)]
    return [*layers, nn.BatchNorm1d(c_out, eps=1e-3, momentum=0.1)]


class JasperBlock(nn.Module):
    def __init__(self, c_in: int, block: dict[str, Any]):
        super().__init__()
        c_out, repeat = int(block["filters"]), int(block.get("repeat", 1))
        kernel, dilation = int(block["kernel"][0]), int(block.get("dilation", [1])[0])
        factor = float(block.get("kernel_size_factor", 1.0))
        kernel = max(int(kernel * factor), 1)
        kernel += 1 - kernel % 2  # NeMo rounds an even kernel up to odd
        separable = bool(block.get("separable", False))
        layers: list[nn.Module] = []
        for i in range(repeat):
            layers += _conv_bn(c_in if i == 0 else c_out, c_out, kernel, dilation, separable)
            if i < repeat - 1:
                layers += [nn.ReLU(), nn.Identity()]  # activation, dropout (off at inference)
        if block.get("se", False):
            layers.append(SqueezeExcite(c_out, int(block.get("se_reduction_ratio", 8))))
        self.mconv = nn.ModuleList(layers)
        self.res = nn.ModuleList([nn.ModuleList(_conv_bn(c_in, c_out, 1, 1, False))]) if block.get("residual") else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        out = x
        for layer in self.mconv:
            out = layer(out, mask) if isinstance(layer, MaskedConv1d) else layer(out)
        if self.res is not None:
            res = x
            for layer in self.res[0]:
                res = layer(res, mask) if isinstance(layer, MaskedConv1d) else layer(res)
            out = out + res
        return F.relu(out)


_UNSUPPORTED = {"stride": [1], "groups": 1, "residual_dense": False, "se_context_size": -1, "heads": -1,
                "residual_mode": "add", "future_context": -1}


def check_encoder(cfg: dict[str, Any], where: str, key: str = "model") -> list[dict[str, Any]]:
    """The encoder's JasperBlock list (cfg[key]), refused when it uses options TalkNet never does."""
    enc = cfg.get(key) or {}
    blocks = enc.get("jasper")
    if not isinstance(blocks, list) or not blocks:
        raise CheckpointError(where, f"model_config.yaml has no {key}.jasper block list (not a TalkNet model)")
    if enc.get("activation", "relu") != "relu" or enc.get("normalization_mode", "batch") != "batch":
        raise CheckpointError(where, "only ReLU, batch-normalised QuartzNet encoders (TalkNet's) are supported")
    for i, block in enumerate(blocks):
        for key, ok in _UNSUPPORTED.items():
            value = block.get(key, ok)
            value, ok = (v[0] if isinstance(v, list) and len(v) == 1 else v for v in (value, ok))
            if value != ok:
                raise CheckpointError(where, f"jasper block {i}: {key}={block[key]} is not supported")
    return blocks


class QuartzNetEncoder(nn.Module):
    def __init__(self, feat_in: int, blocks: list[dict[str, Any]]):
        super().__init__()
        layers = []
        for block in blocks:
            layers.append(JasperBlock(feat_in, block))
            feat_in = int(block["filters"])
        self.encoder = nn.Sequential(*layers)
        self.feat_out = feat_in

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, T); mask (B, 1, T) of valid frames, None when all are."""
        for block in self.encoder:
            x = block(x, mask)
        return x


# -- TalkNet pieces (nemo.collections.tts.modules.talknet) ----------------------------------------------------

class GaussianEmbedding(nn.Module):
    """Token embeddings spread over frames with a Gaussian per token (centre mid-token, sigma dur/2)."""

    EPS = 1e-6

    def __init__(self, n_labels: int, d_emb: int, pad: int, sigma_c: float = 2.0):
        super().__init__()
        self.embed = nn.Embedding(n_labels, d_emb)
        self.pad, self.sigma_c = pad, sigma_c

    def forward(self, text: torch.Tensor, durs: torch.Tensor) -> torch.Tensor:
        text = F.pad(text, [0, 2, 0, 0], value=self.pad)  # NeMo's "fake padding"
        durs = F.pad(durs, [0, 2, 0, 0], value=0)
        total = int(durs.sum(-1).max())
        c = durs / 2.0 + F.pad(torch.cumsum(durs, dim=-1)[:, :-1], [1, 0, 0, 0], value=0)
        c = c.unsqueeze(1).expand(-1, total, -1)
        sigmas = (durs.float() / self.sigma_c).unsqueeze(1).expand(-1, total, -1) + self.EPS
        t = torch.arange(total, dtype=torch.float32, device=durs.device).view(1, -1, 1) + 0.5
        # Normal(c, sigma).log_prob(t).exp(), written out as torch.distributions does
        w = (-((t - c) ** 2) / (2 * sigmas ** 2) - sigmas.log() - math.log(math.sqrt(2 * math.pi))).exp()
        w = w.masked_fill((text == self.pad).unsqueeze(1), 0.0)
        w = w / (w.sum(-1, keepdim=True) + self.EPS)
        return torch.bmm(w, self.embed(text))  # (B, T, E)


def masked_instance_norm(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MaskedInstanceNorm1d (unbiased, no affine): x (B, C, T) normalised over the voiced frames."""
    m = mask.unsqueeze(1).type_as(x)
    cnt = m.sum(dim=-1, keepdim=True)
    mu = (x * m).sum(dim=-1, keepdim=True) / cnt.clamp(1.0, 1e5)
    var = ((x - mu) ** 2 * m).sum(dim=-1, keepdim=True) / (cnt - 1).clamp(1.0, 1e5)
    return (x - mu) / (var + 1e-8).sqrt()


class StyleResidual(nn.Module):
    def __init__(self, d_channel: int, d_style: int, kernel_size: int = 3):
        super().__init__()
        self.rs = nn.Conv1d(d_style, d_channel, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return x + self.rs(s)


class TalkNetDurs(nn.Module):
    """Tokens (with blanks) -> log(1 + frames) per token."""

    def __init__(self, cfg: dict[str, Any], vocab: Vocab, blocks: list[dict[str, Any]]):
        super().__init__()
        self.embed = nn.Embedding(len(vocab.labels), int(cfg["d_char"]))
        self.model = QuartzNetEncoder(int(cfg["d_char"]), blocks)
        self.proj = nn.Conv1d(self.model.feat_out, 1, kernel_size=1)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        return self.proj(self.model(self.embed(text).transpose(1, 2))).squeeze(1)

    def frames(self, text: torch.Tensor) -> torch.Tensor:
        """Whole frames per token, as generate_spectrogram rounds them."""
        durs = self(text).exp() - 1
        return durs.clamp(min=0.0).round().long()


class TalkNetPitch(nn.Module):
    """Tokens + durations -> per-frame silence logit and normalised f0."""

    def __init__(self, cfg: dict[str, Any], vocab: Vocab, blocks: list[dict[str, Any]]):
        super().__init__()
        self.embed = GaussianEmbedding(len(vocab.labels), int(cfg["d_char"]), vocab.pad)
        self.model = QuartzNetEncoder(int(cfg["d_char"]), blocks)
        self.sil_proj = nn.Conv1d(self.model.feat_out, 1, kernel_size=1)
        self.body_proj = nn.Conv1d(self.model.feat_out, 1, kernel_size=1)
        self.f0_mean, self.f0_std = float(cfg["f0_mean"]), float(cfg["f0_std"])

    def forward(self, text: torch.Tensor, durs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.model(self.embed(text, durs).transpose(1, 2))
        return self.sil_proj(y).squeeze(1), self.body_proj(y).squeeze(1)

    def f0(self, text: torch.Tensor, durs: torch.Tensor) -> torch.Tensor:
        """Hz per frame, 0 where the silence head says silent (generate_spectrogram's rule)."""
        sil, body = self(text, durs)
        f0 = body * self.f0_std + self.f0_mean
        return (~(sil.sigmoid() > 0.5) * f0).float()


class TalkNetSpect(nn.Module):
    """Tokens + durations + f0 -> log mel spectrogram (B, n_mels, frames)."""

    NOTE_CHANNELS = 0

    def __init__(self, cfg: dict[str, Any], vocab: Vocab, blocks: list[dict[str, Any]]):
        super().__init__()
        d = int(cfg["d_char"])
        self.embed = GaussianEmbedding(len(vocab.labels), d, vocab.pad)
        self.res_f0 = StyleResidual(d, 1, kernel_size=3)
        self.model = QuartzNetEncoder(d + self.NOTE_CHANNELS, blocks)
        self.proj = nn.Conv1d(self.model.feat_out, int(cfg.get("n_mels", 80)), kernel_size=1)

    def forward(self, text: torch.Tensor, durs: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
        x = self.embed(text, durs).transpose(1, 2)
        mask = f0 > 0.0
        f0 = masked_instance_norm(f0.unsqueeze(1), mask)
        f0 = f0.masked_fill(~mask.unsqueeze(1), 0.0)
        return self.proj(self.model(self.res_f0(x, f0)))


class TalkNetSinger(TalkNetSpect):
    """ControllableTalkNet's TalkNetSingerModel (core/talknet_singer.py): the spectrogram model with the
    absolute pitch added as two channels, sin/cos of 9.06472 ln(f0 / 27.5 Hz) (one turn an octave)."""

    NOTE_CHANNELS = 2  # its config's encoder feat_in is d_char + 2

    def forward(self, text: torch.Tensor, durs: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore"):  # f0 0 (silence): ln 0, sin/cos nan -> 0
            phase = 9.06472 * np.log(0.0363636 * f0.cpu().numpy())
            note = np.stack((np.nan_to_num(np.sin(phase)), np.nan_to_num(np.cos(phase))), 1)
        x = self.embed(text, durs).transpose(1, 2)
        mask = f0 > 0.0
        norm = masked_instance_norm(f0.unsqueeze(1), mask).masked_fill(~mask.unsqueeze(1), 0.0)
        x = torch.cat((self.res_f0(x, norm), torch.from_numpy(note).to(x)), 1)
        return self.proj(self.model(x))


KINDS = {"spect": TalkNetSpect, "singer": TalkNetSinger, "durs": TalkNetDurs, "pitch": TalkNetPitch}
# NeMo keeps the spectrogram model's training featurizer (window, mel filters) in its state dict
IGNORED = {"spect": ("preprocessor.",), "singer": ("preprocessor.",), "durs": (), "pitch": ()}
_REQUIRED = {"spect": ("d_char",), "singer": ("d_char",), "durs": ("d_char",), "pitch": ("d_char", "f0_mean", "f0_std")}


def build_talknet(kind: str, cfg: dict[str, Any], state: dict[str, Any], where: str) -> tuple[nn.Module, Vocab, bool]:
    """One of the three networks from its `.nemo` config and state dict, weights checked by name and
    shape before anything real is allocated. Returns (network in eval mode, vocab, blanking)."""
    from haysay.nodes.vc.safe_load import build_checked

    for key in _REQUIRED[kind]:
        if not isinstance(cfg.get(key), (int, float)):
            raise CheckpointError(where, f"model_config.yaml lacks {key}: not a TalkNet {kind} model")
    vocab, blanking = vocab_of(cfg, where)
    blocks = check_encoder(cfg, where)
    net = build_checked(lambda: KINDS[kind](cfg, vocab, blocks), state, where, IGNORED[kind])
    return net.eval(), vocab, blanking


def default_config(kind: str) -> dict[str, Any]:
    """NeMo's examples/tts/conf/talknet-{spect,durs,pitch}.yaml model section (the released TalkNet 2 sizes)."""
    def block(filters: int, repeat: int, kernel: int, se: bool = True) -> dict[str, Any]:
        return {"filters": filters, "repeat": repeat, "kernel": [kernel], "stride": [1], "dilation": [1],
                "dropout": 0.1, "residual": True, "separable": kernel > 1, **({"se": True, "se_reduction_ratio": 8}
                                                                             if se else {})}
    if kind == "spect":
        blocks = [block(256, 3, 3, False)] + [block(256, 5, k) for k in (5, 7, 9, 13, 15, 17)] \
            + [block(512, 5, k) for k in (21, 23, 25)] + [block(1024, 1, 1, False)]
    else:
        blocks = [block(256, 1, 3, False)] + [block(256, 5, k) for k in (5, 7, 9, 11, 13)] + [block(512, 1, 1, False)]
    cfg: dict[str, Any] = {"d_char": 128, "model": {"feat_in": 128, "activation": "relu", "conv_mask": True,
                                                     "jasper": blocks},
                           "train_ds": {"dataset": {"blanking": True, "vocab": {
                               "notation": "phonemes", "punct": True, "spaces": True, "stresses": False,
                               "add_blank_at": "last"}}}}
    if kind == "spect":
        cfg["n_mels"] = 80
    if kind == "pitch":
        cfg["f0_mean"], cfg["f0_std"] = 178.7767791748047, 33.51659393310547
    return cfg
