"""Batches: input expansion, output naming, and `haysay batch` end to end."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from haysay.cli import main
from haysay.graph_engine import parse_pipeline
from haysay.graph_engine.jobs.batch import BatchError, batch_items

DOC = {"format": "haysay.pipeline/1", "name": "pitch",
       "nodes": [{"id": "t", "type": "gen.tone", "params": {"duration": 0.5, "sample_rate": 8000}}],
       "inputs": {"freq": {"bind": "t.frequency"}, "secs": {"bind": "t.duration", "default": 0.5}},
       "outputs": {"voice": "t.audio"}}


def test_csv_rows_lines_and_folders(tmp_path):
    doc = parse_pipeline(DOC)
    csv = tmp_path / "rows.csv"
    csv.write_text("name,freq,secs\nlow,200,0.25\n,300,\n")
    items = batch_items(doc, csv)
    assert [(i.stem, i.inputs) for i in items] == [("low", {"freq": 200, "secs": 0.25}), ("row0002", {"freq": 300})]
    csv.write_text("frequency\n200\n")
    with pytest.raises(BatchError, match="column\\(s\\) 'frequency' name no pipeline input"):
        batch_items(doc, csv)
    with pytest.raises(BatchError, match="--input-name.*has 2: freq, secs"):
        batch_items(doc, tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.wav", "a.flac", "b.wav"):
        (folder / name).write_bytes(b"")
    assert [i.stem for i in batch_items(doc, folder, "freq")] == ["a", "a-2", "b"]


def test_haysay_batch_writes_named_outputs(haysay_home, tmp_path, capsys):
    pipeline = tmp_path / "p.json"
    pipeline.write_text(__import__("json").dumps(DOC))
    lines = tmp_path / "freqs.txt"
    lines.write_text("250\n\n500\n")
    out = tmp_path / "out"
    code = main(["batch", str(pipeline), "--inputs", str(lines), "--input-name", "freq", "--out", str(out), "-q"])
    table = capsys.readouterr().out
    assert code == 0 and "2/2 succeeded" in table
    for stem, freq in (("line0001", 250), ("line0003", 500)):
        data, rate = sf.read(out / f"{stem}__voice.wav")
        spectrum = np.abs(np.fft.rfft(data))
        assert rate == 8000 and len(data) == 4000
        assert np.argmax(spectrum) * rate / len(data) == pytest.approx(freq, abs=2)
