"""so-vits-svc 4.1 feature retrieval from `feature_and_index.pkl`, read without unpickling arbitrary code.

Measured against upstream 4.1-Stable itself (outside CI): a file written as upstream's train_index.py
writes it (pickle.dump({speaker id: IVF-flat faiss index})), read by upstream's plain pickle.load and by
`read_feature_index`; retrieval run as `Svc.get_unit_f0`'s feature_retrieval branch, statement for
statement, and through `retrieve`: relL2 0 (identical) at cluster_infer_ratio 0.5 and 1.0.
"""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from haysay.nodes.vc.safe_load import CheckpointError
from haysay.nodes.vc.sovits.feature_index import read_feature_index, retrieve, speaker_index

from .conftest import write_feature_index

DIMS = 32


@pytest.fixture(scope="module")
def training():
    rng = np.random.default_rng(0)
    return {0: rng.standard_normal((400, DIMS)).astype(np.float32),
            1: (rng.standard_normal((300, DIMS)) + 3).astype(np.float32)}


@pytest.fixture(scope="module")
def index_file(tmp_path_factory, training):
    return write_feature_index(tmp_path_factory.mktemp("idx") / "feature_and_index.pkl", training)


def test_reads_every_speaker_with_its_features(index_file, training):
    indexes = read_feature_index(index_file)
    assert set(indexes) == {0, 1}
    for spk, x in training.items():
        assert indexes[spk].dims == DIMS and indexes[spk].index.ntotal == len(x)
        assert np.allclose(np.sort(indexes[spk].vectors, axis=0), np.sort(x, axis=0))


def test_retrieval_pulls_toward_the_speakers_features(index_file, training):
    idx = speaker_index(read_feature_index(index_file), 1, index_file)
    rng = np.random.default_rng(1)
    near = training[1][:20] + 0.01 * rng.standard_normal((20, DIMS)).astype(np.float32)
    assert np.array_equal(retrieve(near, idx, 0.0), near)
    got = retrieve(near, idx, 1.0)  # the nearest neighbour dominates the inverse-squared-distance weights
    assert np.linalg.norm(got - training[1][:20]) / np.linalg.norm(training[1][:20]) < 0.01
    far = rng.standard_normal((20, DIMS)).astype(np.float32)  # speaker 0's region, 3 away from speaker 1
    half = retrieve(far, idx, 0.5)
    assert abs(float(half.mean() - far.mean()) - 0.5 * float(retrieve(far, idx, 1.0).mean() - far.mean())) < 1e-4
    assert float(retrieve(far, idx, 1.0).mean()) > 2.0


def test_missing_speaker_and_wrong_dims_are_named(index_file):
    indexes = read_feature_index(index_file)
    with pytest.raises(CheckpointError, match="no entry for speaker id 5"):
        speaker_index(indexes, 5, index_file)
    with pytest.raises(CheckpointError, match="32-dim features but the model uses 768"):
        retrieve(np.zeros((4, 768), np.float32), indexes[0], 0.5)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


class _Eval:
    def __reduce__(self):
        return (eval, ("open('pwned.txt', 'w').write('x')",))


@pytest.mark.parametrize("payload, refers", [({0: _Evil()}, r"(posix|nt)\.system"), (_Eval(), r"builtins\.eval"),
                                             ({0: np.zeros(3)}, r"numpy")])
def test_hostile_pickles_are_refused_without_running(tmp_path, monkeypatch, payload, refers):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "feature_and_index.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(CheckpointError, match=f"refers to {refers}.*refusing"):
        read_feature_index(path)
    assert not (tmp_path / "pwned.txt").exists()


def test_damaged_or_foreign_files(tmp_path, index_file):
    raw = index_file.read_bytes()
    (tmp_path / "cut.pkl").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="not a so-vits feature index|damaged faiss index"):
        read_feature_index(tmp_path / "cut.pkl")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(CheckpointError, match="expected a non-empty"):
        read_feature_index(tmp_path / "list.pkl")
    # a faiss-named object whose state is not faiss bytes
    forged = raw.replace(b"this", b"that")
    (tmp_path / "forged.pkl").write_bytes(forged)
    with pytest.raises(CheckpointError, match="no serialised index bytes"):
        read_feature_index(tmp_path / "forged.pkl")
    with pytest.raises(CheckpointError, match="does not exist"):
        read_feature_index(tmp_path / "nowhere.pkl")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_pickle_protocol_reads(tmp_path, training, protocol):
    import faiss

    index = faiss.IndexFlatL2(DIMS)
    index.add(training[0])
    path = tmp_path / "idx.pkl"
    path.write_bytes(pickle.dumps({0: index, "1": index}, protocol=protocol))
    got = read_feature_index(path)
    assert set(got) == {0, "1"} and got[0].index.ntotal == len(training[0])
