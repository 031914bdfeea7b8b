"""Feature retrieval from an RVC `.index` file (faiss): pull content features toward the training set.

Each frame is replaced by the inverse-squared-distance weighted mean of its
k=8 nearest training features, then blended with the original by index_rate.
faiss reads its own binary format, so no pickle is involved.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from haysay.nodes.vc.safe_load import CheckpointError


@dataclass
class FeatureIndex:
    path: Path
    index: Any  # faiss.Index
    vectors: np.ndarray  # (n, dims): every stored training feature, in index order

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])


def read_feature_index(path: str | Path) -> FeatureIndex:
    """Load a faiss index as RVC's training writes it (e.g. IVF256,Flat over HuBERT features)."""
    import faiss

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "index file does not exist")
    try:
        index = faiss.read_index(str(path))
    except Exception as exc:
        raise CheckpointError(path, f"not a faiss index ({str(exc).strip().splitlines()[0] if str(exc) else exc})") from None
    if index.ntotal == 0:
        raise CheckpointError(path, "the index holds no features")
    try:
        vectors = index.reconstruct_n(0, index.ntotal)
    except Exception as exc:
        raise CheckpointError(path, f"cannot read the stored features back ({exc})") from None
    return FeatureIndex(path, index, np.ascontiguousarray(vectors, dtype=np.float32))


def retrieve(features: np.ndarray, index: FeatureIndex, rate: float, k: int = 8) -> np.ndarray:
    """Blend (frames, dims) features with their retrieved neighbours: rate 1 = all retrieved."""
    if features.shape[1] != index.dims:
        raise CheckpointError(index.path, f"index holds {index.dims}-dim features but the model uses "
                                          f"{features.shape[1]} (v1 models need 256, v2 768)")
    if rate <= 0:
        return features
    query = np.ascontiguousarray(features, dtype=np.float32)
    k = min(k, index.index.ntotal)
    dist, ids = index.index.search(query, k)
    ids = np.where(ids < 0, 0, ids)
    weight = np.square(1.0 / np.maximum(dist, 1e-12))  # an exact hit would otherwise divide by zero
    weight /= weight.sum(axis=1, keepdims=True)
    retrieved = np.sum(index.vectors[ids] * weight[..., None], axis=1)
    return (retrieved * rate + features * (1.0 - rate)).astype(np.float32)


def build_feature_index(features: np.ndarray, path: str | Path, n_lists: int | None = None) -> Path:
    """Write an IVF-flat index as RVC's training does (n_lists ~ min(4*sqrt(n), n/39))."""
    import faiss

    feats = np.ascontiguousarray(features, dtype=np.float32)
    n, dims = feats.shape
    n_lists = n_lists or max(1, min(int(16 * np.sqrt(n)), n // 39))
    index = faiss.index_factory(dims, f"IVF{n_lists},Flat")
    faiss.extract_index_ivf(index).nprobe = 1
    index.train(feats)
    index.add(feats)
    faiss.write_index(index, str(path))
    return Path(path)
