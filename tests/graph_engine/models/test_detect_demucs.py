"""Demucs weights are detected from the files demucs' own save code writes (demucs.states.serialize_model +
save_with_checksum -> SIG-CHECKSUM.th, on a small random-weight HTDemucs), without unpickling them, named
after their bag, and found by audio.separate under that name."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest

pytest.importorskip("demucs")
pytest.importorskip("omegaconf")
import torch  # noqa: E402

from haysay.graph_engine import parse_pipeline, plan  # noqa: E402
from haysay.graph_engine.contract import default_registry  # noqa: E402
from haysay.graph_engine.models import ModelStore  # noqa: E402
from haysay.graph_engine.models.detect import detect  # noqa: E402
from haysay.graph_engine.models.errors import DetectionError  # noqa: E402
from haysay.nodes.audio.separate import load_demucs, model_files  # noqa: E402
from haysay.nodes.vc.resolve import ModelRefError  # noqa: E402

SOURCES = ["drums", "bass", "other", "vocals"]


def save_like_demucs(folder: Path, sig: str, seed: int = 0) -> Path:
    """A small HTDemucs exported as a demucs training run does: serialize_model + save_with_checksum."""
    from fractions import Fraction

    from demucs.htdemucs import HTDemucs
    from demucs.states import save_with_checksum, serialize_model
    from omegaconf import OmegaConf
    torch.manual_seed(seed)
    model = HTDemucs(SOURCES, channels=4, depth=4, t_layers=1, t_heads=2, nfft=4096, dconv_comp=4,
                     samplerate=44100, segment=Fraction(3, 2))
    folder.mkdir(parents=True, exist_ok=True)
    save_with_checksum(serialize_model(model, OmegaConf.create({"model": "htdemucs"}), half=False),
                       folder / f"{sig}.th")
    return next(folder.glob(f"{sig}-*.th"))


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("HAYSAY_HOME", str(tmp_path / "home"))
    return ModelStore.from_env()


def test_lone_th_is_htdemucs_by_its_signature_and_separate_finds_it(store, tmp_path):
    # 955717e8 is the one model of demucs' own remote/htdemucs.yaml bag
    th = save_like_demucs(tmp_path / "dl", "955717e8")
    model = store.install(str(th))  # no --arch, no --name
    assert model.architecture == "demucs"
    assert model.name == th.name[:-len(".th")]
    assert model.info["model"] == "htdemucs"
    assert model.info["signatures"] == ["955717e8"] and model.info["classes"] == ["HTDemucs"]
    assert [f.role for f in model.files] == ["weights"]

    doc = parse_pipeline({"format": "haysay.pipeline/1", "nodes": [
        {"id": "src", "type": "gen.tone", "params": {"duration": 0.5, "channels": 2}},
                                    {"id": "sep", "type": "audio.separate", "params": {"model": "htdemucs"}}],
                          "edges": [{"from": "src.audio", "to": "sep.audio"}],
                          "outputs": {"vocals": "sep.vocals"}})
    assert [e for e in plan(doc, default_registry()).errors if e.node == "sep"] == []
    other = doc.model_copy(deep=True)
    other.nodes[1].params["model"] = "htdemucs_6s"  # a name nothing was detected as is still refused
    (e,) = plan(other, default_registry()).errors
    assert (e.node, e.field) == ("sep", "model") and "htdemucs_6s" in e.message
    assert model_files("htdemucs") == model.path
    net = load_demucs(model_files("htdemucs"))
    assert list(net.sources) == SOURCES and net.samplerate == 44100


def test_bag_folder_is_named_by_its_yaml(tmp_path):
    folder = tmp_path / "mine"
    a = save_like_demucs(folder, "0badcafe", seed=1)
    b = save_like_demucs(folder, "1badcafe", seed=2)
    (folder / "my_bag.yaml").write_text("models: ['0badcafe', '1badcafe']\nweights: [[1,1,1,1],[1,1,1,1]]\n")
    found = detect(folder)
    assert found.architecture == "demucs" and found.info["model"] == "my_bag"
    assert found.roles == {a.name: "weights", b.name: "weights", "my_bag.yaml": "config"}
    assert sorted(found.info["signatures"]) == ["0badcafe", "1badcafe"]


def test_bag_naming_a_missing_model_is_refused(tmp_path):
    folder = tmp_path / "broken"
    save_like_demucs(folder, "0badcafe")
    (folder / "bag.yaml").write_text("models: ['0badcafe', 'deadbeef']\n")
    with pytest.raises(DetectionError, match="deadbeef"):
        detect(folder)


def test_unknown_signature_has_no_name_but_is_demucs(tmp_path):
    found = detect(save_like_demucs(tmp_path / "x", "12345678").parent)
    assert found.architecture == "demucs" and found.info["model"] is None


class _Boom:
    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_th_that_only_mentions_demucs_is_never_run(tmp_path):
    # a .th whose pickle names the keys and class as strings but reduces to a call: not loaded, not run
    marker = tmp_path / "ran"
    boom = _Boom()
    boom.marker = str(marker)
    folder = tmp_path / "evil"
    folder.mkdir()
    torch.save({"klass": "demucs.htdemucs.HTDemucs", "kwargs": {}, "state": boom, "args": []},
               folder / "955717e8.th", pickle_protocol=2)  # no checksum: the load itself refuses
    found = detect(folder)  # detection walks opcodes only
    assert found.architecture == "demucs"
    with pytest.raises(ModelRefError, match="not a Demucs model this loader admits"):
        load_demucs(folder)
    assert not marker.exists()
