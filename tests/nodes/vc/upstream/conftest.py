"""Upstream reference data (files written and outputs computed by RVC WebUI 20240604 and so-vits-svc
4.1-Stable themselves): where it lives, the noise patch its README describes, and its stub content encoder.

The folder is `../shared/fixtures/upstream` beside the repository (or $HAYSAY_UPSTREAM_FIXTURES); every
test here skips, saying so, where it is absent (a clone outside this project).
"""
from __future__ import annotations

import contextlib
import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[4]
UPSTREAM = Path(os.environ.get("HAYSAY_UPSTREAM_FIXTURES") or REPO.parent / "shared" / "fixtures" / "upstream")
LSB = 1.0 / 32768
_RANDN, _RAND = torch.randn, torch.rand  # the real ones, for keyed draws while the patch is on


def upstream_path(*parts: str) -> Path:
    path = UPSTREAM.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"upstream reference data not found at {path} (set HAYSAY_UPSTREAM_FIXTURES)")
    return path


def load_npz(*parts: str) -> dict[str, np.ndarray]:
    with np.load(upstream_path(*parts)) as data:
        return {k: data[k] for k in data.files}


def case_params(data: dict[str, np.ndarray]) -> dict:
    return json.loads(str(data["params_json"]))


def rel_l2(got: np.ndarray, ref: np.ndarray) -> float:
    got, ref = np.asarray(got, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    assert got.shape == ref.shape, f"length {got.shape} != upstream's {ref.shape}"
    return float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30))


def _shape(args, kwargs) -> tuple[int, ...]:
    size = kwargs.get("size", args)
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = size[0]
    return tuple(int(s) for s in size)


class UpstreamNoise:
    """Replaces torch.randn/rand(_like) as the upstream README's generator did: mode "zero" returns zeros,
    "keyed" returns torch.randn(n)/torch.rand(n) from a generator seeded by crc32(f"{kind}:{n}")."""

    def __init__(self, mode: str):
        assert mode in ("zero", "keyed")
        self.mode, self.draws = mode, []

    def draw(self, kind: str, shape: tuple[int, ...], dtype=None, device=None) -> torch.Tensor:
        n = int(np.prod(shape)) if shape else 1
        self.draws.append(f"{kind}:{n} {shape}")
        dtype = dtype or torch.get_default_dtype()
        if self.mode == "zero":
            return torch.zeros(shape, dtype=dtype, device=device)
        gen = torch.Generator().manual_seed(zlib.crc32(f"{kind}:{n}".encode()))
        flat = (_RANDN if kind == "normal" else _RAND)(n, generator=gen, dtype=torch.float32)
        return flat.reshape(shape).to(dtype=dtype, device=device)

    @contextlib.contextmanager
    def patched(self):
        orig = torch.randn, torch.rand, torch.randn_like, torch.rand_like

        def factory(kind):
            def fn(*args, **kwargs):
                return self.draw(kind, _shape(args, kwargs), kwargs.get("dtype"), kwargs.get("device"))
            return fn

        def like(kind):
            def fn(x, *args, **kwargs):
                return self.draw(kind, tuple(x.shape), kwargs.get("dtype") or x.dtype, kwargs.get("device") or x.device)
            return fn

        torch.randn, torch.rand = factory("normal"), factory("uniform")
        torch.randn_like, torch.rand_like = like("normal"), like("uniform")
        try:
            yield self
        finally:
            torch.randn, torch.rand, torch.randn_like, torch.rand_like = orig


@pytest.fixture
def upstream_noise():
    """upstream_noise("zero" | "keyed") -> a context manager that patches torch's random draws."""
    active: list[UpstreamNoise] = []

    def make(mode: str):
        noise = UpstreamNoise(mode)
        active.append(noise)
        return noise.patched()
    return make


class StubEncoder(torch.nn.Module):
    """The README's stand-in for HuBERT/ContentVec: tanh(frame @ W) over 400-sample frames every 320 samples.
    256-dim (W256) where a caller asks for `final_proj` features (RVC v1, vec256l9), else 768-dim (W768)."""

    def __init__(self):
        super().__init__()
        data = load_npz("stub_encoder.npz")
        self.w256 = torch.from_numpy(data["W256"])
        self.w768 = torch.from_numpy(data["W768"])
        self.calls: list[int] = []  # samples per call

    @torch.no_grad()
    def features(self, wav16k: torch.Tensor, layer: int | None = None, final_proj: bool = False) -> torch.Tensor:
        x = wav16k.float().cpu()
        n = x.shape[-1]
        self.calls.append(n)
        frames = (n - 400) // 320 + 1
        idx = torch.arange(frames)[:, None] * 320 + torch.arange(400)[None, :]
        framed = x[..., idx]  # (batch, frames, 400)
        w = self.w256 if final_proj else self.w768
        return torch.tanh(framed @ w).to(wav16k.device)


@pytest.fixture
def stub_encoder() -> StubEncoder:
    return StubEncoder()
