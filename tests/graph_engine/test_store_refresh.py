"""A forced recompute (--no-cache) never changes an artifact in place: the same content is
stored again, other content (a non-deterministic node) leaves the first-written artifact."""
from __future__ import annotations

import numpy as np

from haysay.graph_engine.store import ArtifactStore
from haysay.graph_engine.values import Audio

KEY = "ab" + "0" * 62


def test_refresh_with_other_content_keeps_the_first_artifact(tmp_path):
    store = ArtifactStore(tmp_path)
    first = Audio(np.full((1, 1000), 0.25, np.float32), 8000)
    assert store.writer(KEY).commit({"audio": first, "t": "a"}, {"run_id": "one"}) is True
    other = Audio(np.full((1, 1000), -0.5, np.float32), 8000)
    assert store.writer(KEY).commit({"audio": other, "t": "a"}, {"run_id": "two"}, refresh=True) is False
    assert store.verify(KEY) and store.attrs(KEY)["run_id"] == "one"
    np.testing.assert_array_equal(store.open(KEY)["audio"].numpy(), first.data)
    # text ports live in the attributes: a change there is other content too
    assert store.writer(KEY).commit({"audio": first, "t": "b"}, {"run_id": "three"}, refresh=True) is False
    assert store.open(KEY)["t"] == "a"
    assert not list((tmp_path / "tmp").glob("*")) if (tmp_path / "tmp").exists() else True  # nothing left behind


def test_refresh_with_the_same_content_stores_it_again(tmp_path):
    store = ArtifactStore(tmp_path)
    audio = Audio(np.linspace(-1, 1, 2000, dtype=np.float32)[None, :], 8000)
    store.writer(KEY).commit({"audio": audio}, {"run_id": "one"})
    assert store.writer(KEY).commit({"audio": audio}, {"run_id": "two"}, refresh=True) is True
    assert store.attrs(KEY)["run_id"] == "two"  # really written again (fresh metadata), same samples
    np.testing.assert_array_equal(store.open(KEY)["audio"].numpy(), audio.data)
