"""The notebook API explains itself: completion of node types, ports and params, per-node help,
node_types() details, Audio.save, and located errors for bad ids and type clashes (issue 14.4)."""
import pydoc

import numpy as np
import pytest
import soundfile as sf

import haysay
from haysay.graph_engine import Engine, Settings
from haysay.graph_engine.builder import WiringError, add_completions
from haysay.graph_engine.errors import InvalidPipeline


@pytest.fixture(scope="module")
def ipython():
    from IPython.testing.globalipapp import start_ipython
    ip = start_ipython()
    ip.run_cell("import haysay\np = haysay.Pipeline('c')\nconv = p.add('vc.world', id='conv')")
    return ip


def complete(ip, line):
    from IPython.core.completer import provisionalcompleter
    with provisionalcompleter():
        return [c.text for c in ip.Completer.completions(line, len(line))]


def test_ipython_completes_node_types_ports_params_and_ids(ipython):
    registered = haysay.Pipeline().registry.types()
    tts = complete(ipython, 'p.add("tts.')
    assert tts and set(tts) == {t for t in registered if t.startswith("tts.")} and "tts.espeak" in tts
    assert set(complete(ipython, "p.add('audio.lo")) == {t for t in registered if t.startswith("audio.lo")}
    assert "audio" in complete(ipython, "conv.au")
    assert set(complete(ipython, "conv.params.f0_")) == {"f0_shift", "f0_range", "f0_method", "f0_floor", "f0_ceil"}
    assert "conv" in complete(ipython, 'p["co')
    assert add_completions("x = 1 + len('tts.") is None  # only inside an .add("... string


def test_help_on_params_shows_the_nodes_own_fields():
    p = haysay.Pipeline()
    conv = p.add("vc.world", id="conv")
    text = pydoc.render_doc(conv.params, renderer=pydoc.plaintext)
    assert type(conv.params).__name__ == "VcWorldParams"
    assert "f0_shift (number): default 0.0, range -36.0..36.0 semitones" in text and "Pitch shift" in text
    assert "formant_shift" in text and "Params of vc.world" in text
    html = conv.params._repr_html_()
    assert "<code>f0_floor</code>" in html and "Hz" in html


def test_node_types_carry_ranges_units_and_descriptions():
    cat = haysay.node_types()
    frame = cat.params_frame()
    tone = frame[(frame["node_type"] == "gen.tone") & (frame["param"] == "frequency")].iloc[0]
    assert (tone["min"], tone["max"], tone["unit"], tone["default"]) == (0.0, 20000.0, "Hz", 440.0)
    assert tone["description"].startswith("Frequency")
    assert set(frame["node_type"]) == {s.type for s in cat if s.params.model_fields}
    html = cat._repr_mimebundle_()["text/html"]
    assert "range 0.0..20000.0 Hz" in html
    assert "frequency (number): default 440.0, range 0.0..20000.0 Hz  Frequency" in repr(cat)


def test_a_stage_audio_saves_to_a_file(tmp_path):
    p = haysay.Pipeline()
    p.add("gen.tone", id="tone", frequency=500, duration=0.5, sample_rate=16000)
    with Engine(Settings.from_env(home=tmp_path / "home")) as eng:
        run = p.run(engine=eng)
        audio = run["tone"].audio
        assert not audio.in_memory  # read from the store as it is written
        path = audio.save(tmp_path / "tone.flac")
        data, rate = sf.read(path, always_2d=True)
        assert rate == 16000 and data.shape == (8000, 1) and sf.info(path).format == "FLAC"
        assert np.abs(data[:, 0] - audio.numpy()[0]).max() < 2 ** -22  # 24-bit default
        spectrum = np.abs(np.fft.rfft(data[:, 0]))
        assert np.argmax(spectrum) * 16000 / 8000 == pytest.approx(500, abs=2)
        with pytest.raises(Exception, match="cannot write format 'xyz'"):
            audio.save(tmp_path / "tone.xyz")
        wav = run["tone"].save(tmp_path / "stage.wav", depth="16")  # the stage itself saves too
        data16, rate16 = sf.read(wav, always_2d=True)
        assert rate16 == 16000 and sf.info(wav).subtype == "PCM_16"
        assert np.abs(data16[:, 0] - audio.numpy()[0]).max() < 2 ** -14


def test_a_bad_id_is_a_located_haysay_error():
    p = haysay.Pipeline()
    with pytest.raises(InvalidPipeline) as exc:
        p.add("gen.tone", id="bad id!")
    assert exc.value.errors[0].field == "id" and "'bad id!' is not an id" in str(exc.value)
    assert "pydantic" not in str(exc.value)
    p.add("gen.tone", id="t")
    with pytest.raises(InvalidPipeline, match="already used"):
        p.add("gen.tone", id="t")


def test_a_type_clash_names_both_types():
    p = haysay.Pipeline()
    words = p.add("text.value", id="words")
    norm = p.add("audio.loudness_normalize", id="norm")
    with pytest.raises(WiringError) as exc:
        words >> norm
    msg = str(exc.value)
    assert "type clash" in msg and "gives Text" in msg and "takes Audio" in msg and "(none)" not in msg
    tone = p.add("gen.tone", id="tone")
    tone >> norm
    with pytest.raises(WiringError, match=r"every input of norm .* already fed: norm.audio \(Audio\) from tone.audio"):
        p.add("gen.tone", id="tone2") >> norm


@pytest.mark.parametrize("build, where", [
    (lambda p: p.add("gen.tone", id="a", position=("x", 1)), "a.position.x"),
    (lambda p: p.add("gen.tone", id="b", title=5), "b.title"),
    (lambda p: p.add("gen.tone", id="c").move("q", 2), "c.position.x"),
    (lambda p: p.input("t", p.add("gen.tone", id="d")["frequency"], description=3), "inputs.t.description"),
])
def test_document_errors_while_building_are_located_haysay_errors(build, where):
    with pytest.raises(InvalidPipeline) as exc:
        build(haysay.Pipeline())
    assert [e.location for e in exc.value.errors] == [where] and "pydantic" not in str(exc.value)
