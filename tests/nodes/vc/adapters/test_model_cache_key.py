"""The cache key holds the content of the model files an adapter reads, not their names or paths."""
import shutil

import numpy as np
import soundfile

from haysay.graph_engine import Engine, Settings, parse_pipeline
from haysay.graph_engine.cachekey import cache_key
from haysay.graph_engine.contract import default_registry
from haysay.graph_engine.models import ModelStore


def _key(node_type: str, **params) -> str:
    spec = default_registry()[node_type]
    return cache_key(spec, spec.params.model_validate(params), {"audio": ("up", "audio")})


def test_reinstalling_another_model_under_the_same_name_changes_the_key(haysay_home, rvc_files, encoder_files):
    store = ModelStore.from_env()
    store.install(str(encoder_files["fairseq"]), name="hubert", architecture="content_encoder")
    store.install(str(rvc_files[("v2", True)]), name="voice")
    first = _key("vc.rvc", model="voice")
    assert _key("vc.rvc", model="voice") == first and _key("vc.rvc", model="voice", pitch_shift=2) != first

    store.remove("voice")
    store.install(str(rvc_files[("v1", True)]), name="voice")  # another voice, same name
    assert _key("vc.rvc", model="voice") != first
    store.remove("voice")
    store.install(str(rvc_files[("v2", True)]), name="voice")  # the first file again: its key again
    assert _key("vc.rvc", model="voice") == first

    store.remove("hubert")  # the default content encoder is another file now
    store.install(str(encoder_files["tiny_fairseq"]), name="hubert", architecture="content_encoder")
    assert _key("vc.rvc", model="voice") != first


def test_a_model_path_counts_by_content_and_an_unresolvable_model_never_shares_a_key(
        haysay_home, rvc_files, encoder_files, tmp_path):
    path = tmp_path / "voice.pth"
    shutil.copy(rvc_files[("v2", True)], path)
    enc = str(encoder_files["fairseq"])
    before = _key("vc.rvc", model=str(path), content_encoder=enc)
    other = tmp_path / "elsewhere.pth"
    shutil.copy(path, other)
    assert _key("vc.rvc", model=str(other), content_encoder=enc) == before  # same bytes, another place
    shutil.copy(rvc_files[("v1", True)], path)
    assert _key("vc.rvc", model=str(path), content_encoder=enc) != before  # same place, other bytes
    missing = _key("vc.rvc", model="not-installed", content_encoder=enc)
    assert missing not in (before, _key("vc.rvc", model="also-missing", content_encoder=enc))


def test_sovits_key_follows_weights_config_and_cluster(haysay_home, sovits_files, encoder_files, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(sovits_files["4.1"].parent, folder)
    weights = folder / sovits_files["4.1"].name
    enc = str(encoder_files["transformers"])
    base = dict(model=str(weights), content_encoder=enc)
    first = _key("vc.sovits", **base)
    kmeans = dict(base, cluster_model=str(folder / "kmeans_10000.pt"), cluster_ratio=0.5)
    with_kmeans = _key("vc.sovits", **kmeans)
    config = folder / "config.json"
    config.write_text(config.read_text().replace('"sampling_rate": 44100', '"sampling_rate": 44100 '))
    assert _key("vc.sovits", **base) != first  # config.json is part of the model
    import torch

    torch.save({"nyaru": {"n_features_in_": 768, "_n_threads": 2,
                          "cluster_centers_": np.ones((10, 768), np.float32)}}, folder / "kmeans_10000.pt")
    assert _key("vc.sovits", **kmeans) not in (with_kmeans, _key("vc.sovits", **base))


def test_a_rerun_after_reinstalling_recomputes_the_adapter(haysay_home, rvc_files, encoder_files, speech, tmp_path):
    store = ModelStore.from_env()
    store.install(str(encoder_files["fairseq"]), name="hubert", architecture="content_encoder")
    store.install(str(rvc_files[("v2", True)]), name="voice")
    wav = tmp_path / "speech.wav"
    soundfile.write(wav, speech[0].mono()[: 16000], speech[0].sample_rate)
    doc = parse_pipeline({"format": "haysay.pipeline/1",
                          "nodes": [{"id": "voice", "type": "vc.rvc", "params": {"model": "voice"}}],
                          "inputs": {"audio": {"bind": "voice.audio"}}, "outputs": {"out": "voice.audio"}})
    with Engine(Settings.from_env()) as eng:
        first = eng.run(doc, inputs={"audio": str(wav)})
        cached = eng.run(doc, inputs={"audio": str(wav)})
        store.remove("voice")
        store.install(str(rvc_files[("v2", False)]), name="voice")  # no-f0 model, same name
        again = eng.run(doc, inputs={"audio": str(wav)})
        assert first.ok and cached.ok and again.ok, (first.error, cached.error, again.error)
        hit = {r.run_id: {s.node_id: s.cache_hit for s in eng.history.stages(r.run_id)} for r in (cached, again)}
    assert hit[cached.run_id]["voice"] and not hit[again.run_id]["voice"]
    a, b = first.outputs["out"].numpy(), again.outputs["out"].numpy()
    assert a.shape != b.shape or not np.allclose(a, b)
