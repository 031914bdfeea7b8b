"""The notebook side of sweeps and evaluation: `p.sweep(...)` returns a ranked DataFrame; the compare
table shows the analysis figures of each compared stage beside its levels."""
from __future__ import annotations

import pytest

from haysay.graph_engine import Engine, InvalidPipeline, Settings
from haysay.graph_engine.builder import Pipeline
from studio.notebook.compare import comparison_html, measured

pd = pytest.importorskip("pandas")


def judged_pipeline() -> Pipeline:
    p = Pipeline("nb_sweep")
    text = p.add("text.value", "text").set(text="The quick brown fox jumps over the lazy dog.")
    tts = p.add("tts.espeak", "tts")
    shift = p.add("audio.pitch_shift", "shift")
    pe = p.add("analysis.pitch_error", "pe").set(expected_shift=4.0)
    src = p.add("analysis.pitch_error", "src").set(expected_shift=0.0)
    text.text >> tts.text
    tts.audio >> shift.audio
    shift.audio >> pe.audio
    tts.audio >> pe.reference
    tts.audio >> src.audio
    tts.audio >> src.reference
    p.output("voice", shift.audio)
    return p


def test_sweep_returns_the_ranked_frame_and_refuses_a_bad_grid(haysay_home, tmp_path):
    p = judged_pipeline()
    with Engine(Settings.from_env()) as eng:
        df = p.sweep({"shift.semitones": [0, 4, 8]}, "pe.rmse_cents", engine=eng, out=tmp_path / "s")
        with pytest.raises(InvalidPipeline, match="grid value 40"):
            p.sweep({"shift.semitones": [40]}, "pe.rmse_cents", engine=eng)
    assert isinstance(df, pd.DataFrame) and list(df.index) == [1, 2, 3]
    assert df.iloc[0]["shift.semitones"] == 4  # the shift the error expects measures least
    assert list(df["pe.rmse_cents"]) == sorted(df["pe.rmse_cents"])
    assert df.iloc[-1]["pe.rmse_cents"] > 200 > df.iloc[0]["pe.rmse_cents"]
    assert (df["pe.shift_cents"].sort_values().to_numpy() == pytest.approx([0, 400, 800], abs=40))
    assert (tmp_path / "s" / "sweep.png").stat().st_size > 1000 and (df["status"] == "succeeded").all()
    assert len(df.attrs["sweep"].points) == 3


def test_compare_table_shows_each_stages_figures(haysay_home):
    p = judged_pipeline()
    p["shift"].set(semitones=4.0)
    with Engine(Settings.from_env()) as eng:
        run = p.run(engine=eng)
        assert run.ok, run.error
        shifted, source = measured(run["shift"]), measured(run["tts"])
        page = comparison_html(run.compare("tts", "shift"), tag=lambda a, label: "")
    assert shifted["pe.shift_cents"][0] == pytest.approx(400, abs=40) and shifted["pe.shift_cents"][1] == "cents"
    assert {f"src.{k}" for k in ("shift_cents", "rmse_cents", "gross_errors", "voicing_agreement")} <= set(source)
    assert not any(k.startswith("pe.") for k in source)  # pe judges the shifted audio, not the source
    assert source["src.rmse_cents"][0] == pytest.approx(0, abs=1)  # a voice against itself
    assert "<th>pe.shift_cents</th>" in page and "<th>src.rmse_cents</th>" in page and "LUFS" in page
    assert f"{shifted['pe.shift_cents'][0]:.2f} cents" in page and "n/a" in page  # tts is not judged by pe
