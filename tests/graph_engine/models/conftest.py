"""Small but structurally real model files, and a local HTTP server to download them from."""
from __future__ import annotations

import argparse
import json
import threading
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch


def make_rvc(path: Path, version: str = "v2", sr: int = 40000, f0: int = 1) -> Path:
    """An RVC inference checkpoint: {'weight', 'config', 'info', 'sr', 'f0', 'version'}."""
    dim = 768 if version == "v2" else 256
    weight = OrderedDict([("enc_p.emb_phone.weight", torch.randn(192, dim).half()),
                          ("emb_g.weight", torch.randn(1, 256).half())])
    config = [1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3, [10, 10, 2, 2], 512,
              [16, 16, 4, 4], 109, 256, sr]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": weight, "config": config, "info": "300epoch", "sr": f"{sr // 1000}k", "f0": f0,
                "version": version}, path)
    return path


def make_faiss_index(path: Path, dim: int = 768, n: int = 64) -> Path:
    import faiss

    index = faiss.IndexFlatL2(dim)
    index.add(np.random.default_rng(0).random((n, dim), dtype=np.float32))
    path.parent.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(path))
    return path


def make_sovits(folder: Path, version: str = "4.1", step: int = 800) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model_cfg = {"inter_channels": 192, "hidden_channels": 192, "ssl_dim": 768, "n_speakers": 2,
                 "gin_channels": 256}
    if version == "4.1":
        model_cfg.update({"speech_encoder": "vec768l12", "vol_embedding": False})
    config = {"train": {"epochs": 10000}, "data": {"sampling_rate": 44100, "hop_length": 512},
              "model": model_cfg, "spk": {"alto": 0, "tenor": 1}}
    (folder / "config.json").write_text(json.dumps(config))
    state = {"emb_g.weight": torch.randn(2, 256), "dec.conv_pre.weight": torch.randn(8, 192, 7)}
    torch.save({"model": state, "iteration": step, "optimizer": None, "learning_rate": 1e-4},
               folder / f"G_{step}.pth")
    return folder


def make_fairseq_encoder(path: Path, flavour: str = "hubert") -> Path:
    """Shaped like fairseq's hubert_base.pt: config objects that weights_only refuses to load."""
    args = argparse.Namespace(arch="hubert", label_rate=50, task="contentvec" if flavour == "contentvec" else "hubert_pretraining")
    model = {"feature_extractor.conv_layers.0.0.weight": torch.randn(8, 1, 10),
             "final_proj.weight": torch.randn(4, 8), "label_embs_concat": torch.randn(4, 4)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"args": args, "model": model}, path)
    return path


def make_kmeans(path: Path, speakers: tuple[str, ...] = ("alto",)) -> Path:
    """so-vits-svc's cluster model: per speaker, sklearn attributes with a numpy array."""
    ckpt = {s: {"n_features_in_": 8, "_n_threads": 1, "cluster_centers_": np.zeros((4, 8), np.float32)}
            for s in speakers}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path


def make_piper(folder: Path, name: str = "en_US-test-low") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.onnx").write_bytes(b"\x08\x07\x12\x04test" + bytes(64))
    (folder / f"{name}.onnx.json").write_text(json.dumps(
        {"audio": {"sample_rate": 16000, "quality": "low"}, "language": {"code": "en_US"}, "num_speakers": 1,
         "piper_version": "1.0.0"}))
    return folder / f"{name}.onnx"


class FileServer:
    """Serves a dict of path -> bytes on 127.0.0.1, with Range support and fault injection.

    cut_after[path] = n: the first `cut_times` GETs of `path` send the full
    Content-Length but close after n bytes.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}
        self.cut_times = 1
        self.honour_range = True
        self.requests: list[tuple[str, str, str | None]] = []
        self._cuts: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._serve(head=True)

            def do_GET(self):
                self._serve(head=False)

            def _serve(self, head: bool):
                path = self.path.split("?", 1)[0]
                rng = self.headers.get("Range")
                server.requests.append((self.command, path, rng))
                body = server.files.get(path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                if rng and server.honour_range and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Accept-Ranges", "bytes" if server.honour_range else "none")
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if head:
                    return
                payload = body[start:]
                cut = server.cut_after.get(path)
                if cut is not None and server._cuts.get(path, 0) < server.cut_times:
                    server._cuts[path] = server._cuts.get(path, 0) + 1
                    self.wfile.write(payload[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # clients hanging up mid-body is what these tests do on purpose

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def add(self, path: str, data: bytes | Path) -> str:
        self.files[path] = data.read_bytes() if isinstance(data, Path) else data
        return self.url + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def file_server():
    server = FileServer()
    yield server
    server.close()


@pytest.fixture
def store(haysay_home):
    from haysay.graph_engine.models import ModelStore

    return ModelStore.from_env()


@pytest.fixture
def fake():
    """The model-file factories: fake.rvc(path), fake.sovits(folder), fake.index(path), ..."""
    from types import SimpleNamespace

    return SimpleNamespace(rvc=make_rvc, index=make_faiss_index, sovits=make_sovits, encoder=make_fairseq_encoder,
                           kmeans=make_kmeans, piper=make_piper)
