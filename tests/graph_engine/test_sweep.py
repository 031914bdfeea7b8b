"""Sweeps: a cartesian grid of overrides run through the Engine, upstream stages shared through the
cache, points ranked by a measured figure, the report (CSV, markdown, PNG) written."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from haysay.graph_engine import Engine, InvalidPipeline, Settings, parse_pipeline
from haysay.graph_engine.sweep import as_axes, lower_is_better, parse_axis, parse_score, run_sweep, write_report

SAID = "The quick brown fox jumps over the lazy dog."


def shifted_doc():
    """Speech, pitch-shifted, then a gain; the pitch error against the source expects +3 semitones."""
    return parse_pipeline({
        "format": "haysay.pipeline/1", "name": "shift_sweep",
        "nodes": [{"id": "text", "type": "text.value", "params": {"text": SAID}},
                  {"id": "tts", "type": "tts.espeak", "params": {}},
                  {"id": "pitch", "type": "audio.pitch_shift", "params": {"semitones": 0.0}},
                  {"id": "gain", "type": "audio.gain", "params": {"gain_db": 0.0}},
                  {"id": "pe", "type": "analysis.pitch_error", "params": {"expected_shift": 3.0}}],
        "edges": [{"from": "text.text", "to": "tts.text"}, {"from": "tts.audio", "to": "pitch.audio"},
                  {"from": "pitch.audio", "to": "gain.audio"}, {"from": "gain.audio", "to": "pe.audio"},
                  {"from": "tts.audio", "to": "pe.reference"}],
        "outputs": {"voice": "gain.audio"}})


def test_grid_and_score_specs_parse_and_pick_a_direction():
    a = parse_axis("convert.pitch_shift=0,2,4")
    assert (a.node, a.param, a.values) == ("convert", "pitch_shift", (0, 2, 4))
    assert parse_axis('n.method=["praat", "dio"]').values == ("praat", "dio")
    assert parse_axis("n.mode=fast, slow").values == ("fast", "slow")
    assert [x.name for x in as_axes({"a.b": [1, 2], "c.d": 0.5})] == ["a.b", "c.d"]
    for bad in ("convert=1,2", "pitch_shift", "convert.pitch_shift=", ".x=1"):
        with pytest.raises(ValueError):
            parse_axis(bad)
    assert lower_is_better("wer") and lower_is_better("rmse_cents") and lower_is_better("gross_errors")
    assert not lower_is_better("OVRL") and not lower_is_better("voicing_agreement")
    assert parse_score("wer.wer").maximize is False and parse_score("q.OVRL").maximize is True
    assert parse_score("q.OVRL", maximize=False).maximize is False
    with pytest.raises(ValueError, match="node.metric"):
        parse_score("OVRL")


def test_bad_grid_is_refused_field_by_field_before_anything_runs(haysay_home):
    with Engine(Settings.from_env()) as eng:
        with pytest.raises(InvalidPipeline) as info:
            run_sweep(eng, shifted_doc(), ["pitch.semitones=0,30", "pitch.nope=1", "ghost.x=1", "gain.gain_db=0"],
                      ["pe.rmse_cents", "gain.level"])
        assert eng.history.runs() == []  # nothing ran
    got = {(e.node, e.field, e.code): e.message for e in info.value.errors}
    assert "grid value 30: must be between -24.0 and 24.0" in got[("pitch", "semitones", "invalid_param")]
    assert "no param 'nope'" in got[("pitch", "nope", "invalid_param")]
    assert "no node 'ghost'" in got[("ghost", "x", "unknown_node")]
    assert "measures nothing" in got[("gain", "level", "invalid_score")]
    assert len(got) == 4


def test_sweep_shares_upstream_stages_and_ranks_by_the_measured_error(haysay_home, tmp_path):
    with Engine(Settings.from_env()) as eng:
        result = run_sweep(eng, shifted_doc(), {"pitch.semitones": [0, 3, 6], "gain.gain_db": [-6, 0]},
                           "pe.rmse_cents", output_dir=tmp_path / "sweep")
        paths = write_report(result, tmp_path / "sweep")
    assert [p.settings for p in result.points] == [{"pitch.semitones": s, "gain.gain_db": g}
                                                   for s in (0, 3, 6) for g in (-6, 0)]
    assert all(p.status == "succeeded" and "pe.rmse_cents" in p.scores for p in result.points)
    first, *rest = result.points
    assert sorted(first.computed) == ["gain", "pe", "pitch", "text", "tts"]
    for p in rest:  # the speech is made once; a point that only changes the gain keeps the shift
        assert {"text", "tts"} <= set(p.cached)
        expected = {"gain", "pe"} if p.settings["gain.gain_db"] == 0 else {"gain", "pe", "pitch"}
        assert set(p.computed) == expected, (p.settings, p.computed)
    # the +3 st points measure least error after the expected shift; 0 and 6 st are ~300 cents off
    ranked = result.ranked()
    assert {p.settings["pitch.semitones"] for p in ranked[:2]} == {3}
    assert all(ranked[i].scores["pe.rmse_cents"] <= ranked[i + 1].scores["pe.rmse_cents"] for i in range(5))
    assert ranked[0].scores["pe.rmse_cents"] < 100 < ranked[-1].scores["pe.rmse_cents"]
    shift = {p.settings["pitch.semitones"]: p.metrics["pe"]["shift_cents"] for p in result.points}
    assert shift[6] == pytest.approx(600, abs=30) and shift[0] == pytest.approx(0, abs=30)

    rows = list(csv.DictReader(open(paths["csv"])))
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [float(r["pe.rmse_cents"]) for r in rows] == pytest.approx([p.scores["pe.rmse_cents"] for p in ranked])
    assert all(r["voice.artifact"] and r["voice.file"] for r in rows)
    import soundfile as sf
    quiet, loud = (sf.read(next(r["voice.file"] for r in rows if r["pitch.semitones"] == "3" and r["gain.gain_db"] == g))[0]
                   for g in ("-6", "0"))
    assert 20 * np.log10(np.abs(loud).max() / np.abs(quiet).max()) == pytest.approx(6.0, abs=0.1)
    md = paths["markdown"].read_text()
    assert "lower is better" in md and md.count("\n| ") == 7  # header + 6 rows
    from PIL import Image
    with Image.open(paths["plot"]) as img:
        img.load()
        assert img.size == (1200, 400)  # one row per score, one panel per param
        assert len(set(np.asarray(img.convert("L")).ravel().tolist())) > 10  # something was drawn
