"""An adapter run through the engine: GPU-tagged stage, model load cold then warm, recorded in history."""
import json

import soundfile

from haysay.graph_engine import Engine, Settings, parse_pipeline
from haysay.graph_engine.warm_pool import default_pool


def test_rvc_stage_records_cold_then_warm_model_loads(haysay_home, rvc_files, encoder_files, speech, tmp_path):
    wav = tmp_path / "speech.wav"
    soundfile.write(wav, speech[0].mono(), speech[0].sample_rate)
    doc = parse_pipeline({
        "format": "haysay.pipeline/1",
        "nodes": [{"id": "voice", "type": "vc.rvc",
                   "params": {"model": str(rvc_files[("v2", True)]), "content_encoder": str(encoder_files["fairseq"]),
                              "pitch_shift": 3}}],
        "inputs": {"audio": {"bind": "voice.audio"}}, "outputs": {"out": "voice.audio"}})
    default_pool("cpu").clear()  # earlier tests in this process may have warmed the same files
    with Engine(Settings.from_env()) as eng:
        assert eng.registry["vc.rvc"].gpu
        cold = eng.run(doc, inputs={"audio": str(wav)})
        warm = eng.run(doc, inputs={"audio": str(wav)}, use_cache=False)
        assert cold.ok and warm.ok, (cold.error, warm.error)
        assert cold.outputs["out"].sample_rate == 40000

        def loads(result):
            row = next(s for s in eng.history.stages(result.run_id) if s.node_id == "voice")
            return json.loads(row.info_json)["model_load"]

        first, second = loads(cold), loads(warm)
        assert set(first) >= {"rvc", "content_encoder"}
        assert not any(e["warm"] for e in first.values()) and all(e["load_seconds"] > 0 for e in first.values())
        assert all(e["warm"] for e in second.values())
