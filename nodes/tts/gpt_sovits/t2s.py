"""GPT-SoVITS's autoregressive text-to-semantic decoder (AR/models/t2s_model.py Text2SemanticDecoder) and
its sampler (AR/models/utils.py logits_to_probs), inference only. No file I/O here."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

BERT_DIM = 1024
MIN_TOKENS = 11  # upstream masks EOS for the first 11 steps (at least ~0.4 s of speech)
MAX_STEPS = 1500  # upstream's hard cap on decoding steps


@dataclass(frozen=True)
class T2SConfig:
    """The `model` section of a GPT `.ckpt`'s config (upstream configs/s1longer-v2.yaml)."""
    embedding_dim: int = 512
    hidden_dim: int = 512
    head: int = 16
    n_layer: int = 24
    vocab_size: int = 1025
    phoneme_vocab_size: int = 732
    EOS: int = 1024
    max_sec: int = 54


class TokenEmbedding(nn.Module):
    def __init__(self, dim: int, vocab: int):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)


class SinePosition(nn.Module):
    """SinePositionalEmbedding(scale=False, alpha=True): x + alpha * sinusoid(position)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.ones(1))

    def pe(self, positions: torch.Tensor) -> torch.Tensor:
        div = torch.exp(torch.arange(0, self.dim, 2, dtype=torch.float32) * -(math.log(10000.0) / self.dim))
        arg = positions.float().unsqueeze(1) * div.to(positions.device)
        pe = torch.zeros(len(positions), self.dim, device=positions.device)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(arg), torch.cos(arg)
        return pe.unsqueeze(0)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        pos = torch.arange(start, start + x.shape[1], device=x.device)
        return x + self.alpha * self.pe(pos).to(x.dtype)


class SelfAttention(nn.Module):
    """torch-style MultiheadAttention parameters (in_proj_weight / out_proj)."""

    def __init__(self, dim: int):
        super().__init__()
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * dim))
        self.out_proj = nn.Linear(dim, dim)


class Layer(nn.Module):
    """Post-norm transformer layer (norm_first=False) with a key/value cache."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.self_attn = SelfAttention(dim)
        self.linear1 = nn.Linear(dim, dim * 4)
        self.linear2 = nn.Linear(dim * 4, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, cache: list[torch.Tensor] | None, mask: torch.Tensor | None):
        q, k, v = F.linear(x, self.self_attn.in_proj_weight, self.self_attn.in_proj_bias).chunk(3, dim=-1)
        if cache is not None:
            k, v = torch.cat([cache[0], k], 1), torch.cat([cache[1], v], 1)
        b, t, d = q.shape

        def heads(z: torch.Tensor) -> torch.Tensor:
            return z.view(b, z.shape[1], self.heads, -1).transpose(1, 2)

        attn = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), mask)
        x = self.norm1(x + self.self_attn.out_proj(attn.transpose(1, 2).reshape(b, t, d)))
        x = self.norm2(x + self.linear2(F.relu(self.linear1(x))))
        return x, [k, v]


class Text2SemanticDecoder(nn.Module):
    def __init__(self, cfg: T2SConfig):
        super().__init__()
        self.cfg = cfg
        self.bert_proj = nn.Linear(BERT_DIM, cfg.embedding_dim)
        self.ar_text_embedding = TokenEmbedding(cfg.embedding_dim, cfg.phoneme_vocab_size)
        self.ar_text_position = SinePosition(cfg.embedding_dim)
        self.ar_audio_embedding = TokenEmbedding(cfg.embedding_dim, cfg.vocab_size)
        self.ar_audio_position = SinePosition(cfg.embedding_dim)
        self.h = nn.Module()
        self.h.layers = nn.ModuleList(Layer(cfg.hidden_dim, cfg.head) for _ in range(cfg.n_layer))
        self.ar_predict_layer = nn.Linear(cfg.hidden_dim, cfg.vocab_size, bias=False)

    def _run(self, x: torch.Tensor, caches: list | None, mask: torch.Tensor | None):
        new = []
        for i, layer in enumerate(self.h.layers):
            x, c = layer(x, None if caches is None else caches[i], mask)
            new.append(c)
        return x, new

    @torch.no_grad()
    def infer(self, phones: torch.Tensor, prompt: torch.Tensor | None, bert: torch.Tensor, top_k: int = 15,
              top_p: float = 1.0, temperature: float = 1.0, repetition_penalty: float = 1.35,
              early_stop_num: int = -1, generator: torch.Generator | None = None) -> tuple[torch.Tensor, bool]:
        """infer_panel_naive: phoneme ids (1, n) + prompt tokens (1, p) or None + BERT features (1, 1024, n)
        -> (the generated semantic tokens (1, t), whether EOS ended it)."""
        x = self.ar_text_embedding.word_embeddings(phones) + self.bert_proj(bert.transpose(1, 2))
        x = self.ar_text_position(x)
        x_len = x.shape[1]
        y = prompt if prompt is not None else torch.zeros(1, 0, dtype=torch.long, device=x.device)
        prefix = y.shape[1]
        xy = torch.cat([x, self.ar_audio_position(self.ar_audio_embedding.word_embeddings(y))], 1) if prefix else x
        # text sees only text; semantic tokens see all text and the tokens before them
        allowed = torch.zeros(x_len + prefix, x_len + prefix, dtype=torch.bool, device=x.device)
        allowed[:, :x_len] = True
        allowed[x_len:, x_len:] = torch.tril(torch.ones(prefix, prefix, dtype=torch.bool, device=x.device))
        mask: torch.Tensor | None = allowed
        caches = None
        eos = False
        for idx in range(MAX_STEPS):
            h, caches = self._run(xy, caches, mask)
            mask = None
            logits = self.ar_predict_layer(h[:, -1])
            if idx < MIN_TOKENS:
                logits = logits[:, :-1]
            logits = apply_repetition_penalty(logits, y, repetition_penalty)
            sample = sample_token(logits, top_k, top_p, temperature, generator)
            y = torch.cat([y, sample], 1)
            stop = early_stop_num != -1 and y.shape[1] - prefix > early_stop_num
            if int(torch.argmax(logits, dim=-1)[0]) == self.cfg.EOS or int(sample[0, 0]) == self.cfg.EOS:
                y, stop, eos = y[:, :-1], True, True
            if stop:
                break
            emb = self.ar_audio_embedding.word_embeddings(y[:, -1:])
            xy = self.ar_audio_position(emb, start=prefix + idx)
        generated = y[:, prefix:]
        if not eos and prefix:  # after an early stop upstream slices [:, -idx:], one short of what was
            generated = generated[:, 1:]  # generated (reference-free runs return idx 0: all of them)
        if generated.shape[1] == 0:  # upstream's "bad zero prediction": one silent-ish token
            generated = torch.zeros(1, 1, dtype=torch.long, device=y.device)
        return generated, eos


def apply_repetition_penalty(logits: torch.Tensor, previous: torch.Tensor, penalty: float) -> torch.Tensor:
    """Upstream's penalty on every token already in the sequence (prompt included)."""
    if previous.shape[1] == 0 or penalty == 1.0:
        return logits
    score = torch.gather(logits, 1, previous)
    score = torch.where(score < 0, score * penalty, score / penalty)
    return logits.scatter(1, previous, score)


def sample_token(logits: torch.Tensor, top_k: int, top_p: float, temperature: float,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """logits_to_probs + multinomial_sample_one_no_sync: top-p, temperature, top-k, then an
    exponential-race draw (argmax of p / Exp(1)), so top_k=1 is greedy."""
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        remove = torch.cumsum(torch.softmax(sorted_logits, -1), -1) > top_p
        remove[:, 0] = False
        logits = logits.masked_fill(remove.scatter(1, order, remove), -float("inf"))
    logits = logits / max(temperature, 1e-5)
    if top_k:
        pivot = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = torch.where(logits < pivot, -float("inf"), logits)
    probs = torch.softmax(logits, -1)
    q = torch.empty_like(probs).exponential_(1, generator=generator)
    return torch.argmax(probs / q, dim=-1, keepdim=True)
