"""Where the heavy networks of an adapter run: torch eager, or ONNX Runtime graphs exported from them.

On CPU the HiFi-GAN decoder is most of an RVC or so-vits conversion and the HuBERT/ContentVec encoder most
of the rest; ONNX Runtime runs the same fp32 networks 2-2.5x faster there than torch eager (measured:
benchmarks/adapters.py). Of the decoder only the deterministic part is exported (`Generator.from_source`):
the sine source, with its float64 phase sums and seeded noise, stays in torch, so a seed gives the same
draws on either backend. The encoder is exported per transformer layer the adapters read (9 or 12).

The checkpoint stays the source of truth: the graph is exported from the loaded network on first load,
cached under HAYSAY_HOME/compiled/ by the checkpoint's content hash (installed model folders, whose files
are hashed into cache keys, are never written to), and every load checks it against the torch decoder on a
probe input; beyond TOLERANCE, or without onnxruntime, the torch network is kept and the reason recorded.
"""
from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from haysay.nodes.vc.resolve import ModelRefError

BACKENDS = ("auto", "torch", "onnx")
TOLERANCE = 1e-5  # relL2 of the graph against torch on the probe; an fp32 export measures ~1e-6
GRAPH_VERSION = 1  # bump when Generator.from_source or the export changes: old cached graphs are ignored
PROBE_FRAMES = 48



class BackendError(ModelRefError):
    """A requested backend that cannot run here, located on the node's `backend` field."""

    def __init__(self, message: str):
        super().__init__("backend", message)


def compiled_dir() -> Path:
    from haysay.graph_engine.config import default_home

    return Path(os.environ.get("HAYSAY_COMPILED") or default_home() / "compiled")


class OnnxGraph:
    """An ONNX Runtime session (CPU, fp32) called with torch tensors by input name."""

    def __init__(self, path: Path, names: list[str], threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path, self.names = path, names
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def run(self, **given):
        import torch

        feed = {n: np.ascontiguousarray(given[n].detach().float().cpu().numpy()) for n in self.names}
        return torch.from_numpy(self.session.run(None, feed)[0])


class OnnxDecoder(OnnxGraph):
    """`Generator.from_source(x, source, g)` as a graph."""

    def __call__(self, x, source=None, g=None):
        return self.run(x=x, source=source, g=g).to(x.device)


class OnnxEncoderLayer(OnnxGraph):
    """The content encoder's transformer output at one layer, (1, samples) -> (1, frames, dims)."""

    def __call__(self, wav):
        return self.run(wav=wav).to(wav.device)


def _rel_l2(got, ref) -> float:
    ref = ref.double()
    return float((got.double() - ref).norm() / ref.norm().clamp_min(1e-30))


def _wrap(fn, owner):
    """`fn` as a module holding `owner` (its parameters become the graph's weights, not traced constants)."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.owner = owner

        def forward(self, *args):
            return fn(*args)

    return Wrapped().eval()


def _unavailable(device: str, dtype) -> str | None:
    import torch

    if torch.device(device).type != "cpu":
        return f"the exported graph runs on CPU; this model runs on {device} (fp16 there as upstream)"
    if dtype != torch.float32:
        return f"the exported graph is fp32 and this model is {dtype}"
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        return f"needs the Python package {exc.name!r} (pip install onnx onnxruntime)"
    return None


def _graph(fn, owner, example: dict, probe: dict, axes: dict, name: str, backend: str, runner_cls):
    """Export `fn` (cached by `name`), load it and check it on `probe` against `fn` itself:
    (runner or None, info)."""
    import onnxruntime
    import torch

    t0 = time.perf_counter()
    path = compiled_dir() / (f"{name}-v{GRAPH_VERSION}-torch{torch.__version__}-ort{onnxruntime.__version__}"
                             ".onnx").replace("+", "_")
    built = not path.is_file()
    names = list(example)
    try:
        if built:
            _export(_wrap(fn, owner), tuple(example[n] for n in names), names, axes, path)
        try:
            runner = runner_cls(path, names, torch.get_num_threads())
        except Exception:
            if built:
                raise
            built = True  # a damaged cached graph (a crash mid-copy, a full disk): exported again
            path.unlink(missing_ok=True)
            _export(_wrap(fn, owner), tuple(example[n] for n in names), names, axes, path)
            runner = runner_cls(path, names, torch.get_num_threads())
        with torch.no_grad():
            rel = _rel_l2(runner.run(**probe), fn(*(probe[n] for n in names)))
    except Exception as exc:  # an export or runtime failure leaves the torch network, said why
        why = f"{type(exc).__name__}: {str(exc)[:300]}"
        if backend == "onnx":
            raise BackendError(f"onnx export or load failed: {why}") from None
        return None, {"backend": "torch", "reason": f"onnx failed: {why}"}
    info = {"graph": str(path), "built": built, "probe_rel_l2": rel, "seconds": round(time.perf_counter() - t0, 3)}
    if not rel < TOLERANCE:
        path.unlink(missing_ok=True)
        if backend == "onnx":
            raise BackendError(f"the onnx graph differs from torch by relL2 {rel:.2e} "
                               f"(tolerance {TOLERANCE:g}); use torch")
        return None, {"backend": "torch", "reason": f"onnx out of tolerance (relL2 {rel:.2e})", **info}
    return runner, {"backend": "onnx", **info}


def _export(module, args: tuple, names: list[str], axes: dict, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
            torch.onnx.export(module, args, tmp, input_names=names, output_names=["out"], dynamic_axes=axes,
                              opset_version=17, dynamo=False)
        os.replace(tmp, path)  # whole or not at all: a concurrent loader never reads half a graph
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise BackendError(f"{backend!r} is not one of {', '.join(BACKENDS)}")


def _decoder_inputs(dec, frames: int, seed: int) -> dict[str, Any]:
    """Inputs of the decoder's shapes (float32, CPU), from a fixed generator."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    out = {"x": torch.randn(1, dec.conv_pre.in_channels, frames, generator=gen)}
    if dec.nsf:
        out["source"] = torch.tanh(torch.randn(1, 1, frames * dec.upp, generator=gen) * 0.1)
    if hasattr(dec, "cond"):
        out["g"] = torch.randn(1, dec.cond.in_channels, 1, generator=gen)
    return out


def attach_decoder(model, digest: str, backend: str = "auto", device: str = "cpu") -> dict[str, Any]:
    """Choose and attach the decoder backend of `model` (an RVC or so-vits synthesizer with `.dec`);
    returns what was chosen and why. `digest` is the checkpoint's content hash (the graph's cache key)."""
    _check_backend(backend)
    dec = model.dec
    dec.core = None
    if backend == "torch":
        return {"backend": "torch", "reason": "asked"}
    why_not = _unavailable(device, next(dec.parameters()).dtype)
    if why_not:
        if backend == "onnx":
            raise BackendError(f"onnx {why_not}")
        return {"backend": "torch", "reason": why_not}
    example = _decoder_inputs(dec, PROBE_FRAMES, 0)
    axes = {"x": {2: "frames"}, "out": {2: "samples"}}
    if "source" in example:
        axes["source"] = {2: "samples"}
    if "g" in example:
        axes["g"] = {2: "speaker_frames"}  # 1, or one embedding per frame (so-vits speaker-mix track)
    names = list(example)

    def core(*args):
        given = dict(zip(names, args))
        return dec.from_source(given["x"], given.get("source"), given.get("g"))

    key = digest.split(":", 1)[-1][:32]
    runner, info = _graph(core, dec, example, _decoder_inputs(dec, PROBE_FRAMES, 1), axes,
                          f"{key}-{type(model).__name__}-dec", backend, OnnxDecoder)
    dec.core = runner
    return info


class EncoderGraphs:
    """Per-layer graphs of a content encoder, each exported on its first use; `info` says what ran."""

    def __init__(self, encoder, digest: str, backend: str):
        self.encoder, self.key, self.backend = encoder, digest.split(":", 1)[-1][:32], backend
        self.layers: dict[int, Any] = {}
        self.info: dict[str, Any] = {}

    def layer_output(self, wav, layer: int):
        """(1, samples) -> (1, frames, dims) at `layer` (1-based), through the graph when it checked out."""
        import torch

        if layer not in self.layers:
            model = self.encoder.model

            def upto(w):
                return model.extract_features(w, num_layers=layer)[0][-1]

            gen = torch.Generator().manual_seed(layer)
            example = {"wav": torch.randn(1, 16000, generator=gen) * 0.1}
            probe = {"wav": torch.randn(1, 12000, generator=gen) * 0.1}
            self.layers[layer], self.info[f"layer{layer}"] = _graph(
                upto, model, example, probe, {"wav": {1: "samples"}, "out": {1: "frames"}},
                f"{self.key}-{type(self.encoder).__name__}-layer{layer}", self.backend, OnnxEncoderLayer)
        runner = self.layers[layer]
        if runner is None or wav.shape[0] != 1 or wav.shape[-1] < 400:
            return self.encoder.model.extract_features(wav, num_layers=layer)[0][-1]
        return runner(wav)


def attach_encoder(encoder, digest: str, backend: str = "auto", device: str = "cpu") -> dict[str, Any]:
    """Choose the backend of a HuBERT/ContentVec `ContentEncoder` (other encoder families stay torch);
    its graphs are exported when a layer is first read. `digest`: the encoder file's content hash."""
    from haysay.nodes.vc.content.hubert import ContentEncoder

    _check_backend(backend)
    if not isinstance(encoder, ContentEncoder):
        return {"backend": "torch", "reason": f"{type(encoder).__name__} has no exported graph"}
    encoder.graphs = None
    if backend == "torch":
        return {"backend": "torch", "reason": "asked"}
    why_not = _unavailable(device, next(encoder.parameters()).dtype)
    if why_not:
        if backend == "onnx":
            raise BackendError(f"onnx {why_not}")
        return {"backend": "torch", "reason": why_not}
    encoder.graphs = EncoderGraphs(encoder, digest, backend)
    return {"backend": "onnx", "layers": encoder.graphs.info}


def ensure_decoder(model, digest: str, backend: str, device: str) -> dict[str, Any]:
    """attach_decoder unless `model` (shared through the warm pool) already runs the backend asked for."""
    info = getattr(model.dec, "backend_info", None)
    if not info or info.get("asked") != backend:
        info = model.dec.backend_info = {**attach_decoder(model, digest, backend, device), "asked": backend}
    return info


def ensure_encoder(encoder, digest: str, backend: str, device: str) -> dict[str, Any]:
    """attach_encoder unless the pooled `encoder` already runs the backend asked for."""
    info = getattr(encoder, "backend_info", None)
    if not info or info.get("asked") != backend:
        info = encoder.backend_info = {**attach_encoder(encoder, digest, backend, device), "asked": backend}
    return info
