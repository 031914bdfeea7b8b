"""Demucs weights are detected from the files demucs' own save code writes (demucs.states.serialize_model +
save_with_checksum -> SIG-CHECKSUM.th, on a small random-weight HTDemucs), without unpickling them, named
after their bag, and found by audio.separate under that name."""
from __future__ import annotations

import json
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


def test_cli_install_lists_the_detected_demucs(store, tmp_path, capsys):
    from haysay.cli import main
    th = save_like_demucs(tmp_path / "dl", "955717e8")
    assert main(["models", "install", str(th), "--name", "song-splitter"]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["name"] == "song-splitter" and listed["architecture"] == "demucs"
    assert model_files("song-splitter") == model_files("htdemucs")  # by its name or as what it was detected


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


def test_hf_safetensors_detected_from_its_header(tmp_path):
    # the layout demucs.hf.load_safetensors_model reads (Demucs' Hugging Face repositories: one
    # SIG.safetensors per model, class and JSON init arguments in the metadata); demucs ships no writer
    # of it, so it is written here from the model demucs' serialize_model exports
    from demucs.hf import load_safetensors_model
    from demucs.states import load_model
    from safetensors.torch import save_file

    th = save_like_demucs(tmp_path / "th", "955717e8")
    with torch.serialization.safe_globals(_allowed()):
        package = torch.load(th, map_location="cpu", weights_only=True)
    kwargs = {k: ({"_type": "fraction", "numerator": v.numerator, "denominator": v.denominator}
                  if hasattr(v, "denominator") and not isinstance(v, int) else v) for k, v in package["kwargs"].items()}
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in package["state"].items()}, str(folder / "955717e8.safetensors"),
              metadata={"klass": "demucs.htdemucs.HTDemucs", "args": json.dumps(list(package["args"])),
                        "kwargs": json.dumps(kwargs)})
    (folder / "htdemucs.yaml").write_text("models: ['955717e8']\n")
    found = detect(folder)
    assert found.architecture == "demucs" and found.info["model"] == "htdemucs"
    assert found.roles == {"955717e8.safetensors": "weights", "htdemucs.yaml": "config"}
    ours, theirs = load_demucs(folder).models[0], load_safetensors_model(folder / "955717e8.safetensors")
    reference = load_model(package)
    for a, b, c in zip(ours.state_dict().values(), theirs.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_safetensors_naming_another_class_is_not_demucs(tmp_path):
    from safetensors.torch import save_file
    folder = tmp_path / "other"
    folder.mkdir()
    save_file({"w": torch.zeros(2)}, str(folder / "x.safetensors"), metadata={"klass": "os.system", "args": "[]",
                                                                             "kwargs": "{}"})
    with pytest.raises(DetectionError, match="not a model haysay recognises"):
        detect(folder)


def _allowed():
    from fractions import Fraction

    from demucs.htdemucs import HTDemucs
    return [HTDemucs, Fraction]
