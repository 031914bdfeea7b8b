"""The node contract: declaring, registering, calling, describing, streaming."""
import numpy as np
import pytest
from pydantic import BaseModel, Field

from haysay.graph_engine.contract import AUDIO, TEXT, MemorySink, Registry, default_registry, node, run_stream
from haysay.graph_engine.values import Audio, PortType


def test_builtins_registered_with_ports_and_params():
    reg = default_registry()
    gain = reg["audio.gain"]
    assert gain.inputs["audio"].type is PortType.AUDIO and gain.outputs["audio"].type is PortType.AUDIO
    assert "gain_db" in gain.params.model_fields
    assert gain.blockwise and gain.category == "transform"
    desc = gain.describe()
    assert desc["params_schema"]["properties"]["gain_db"]["unit"] == "dB"
    assert desc["params_schema"]["properties"]["gain_db"]["maximum"] == 48.0
    for t in ("gen.tone", "audio.load", "audio.resample", "audio.save", "text.value"):
        assert t in reg


def test_unknown_type_raises_clear_keyerror():
    with pytest.raises(KeyError, match="unknown node type 'nope'"):
        default_registry()["nope"]


def test_declare_node_in_private_registry_and_call():
    reg = Registry()

    class P(BaseModel):
        times: int = Field(2, ge=1, le=5)

    spec = node("test.repeat", inputs={"text": TEXT}, outputs={"text": TEXT}, params=P, registry=reg)(
        lambda params, text: text * params.times)
    reg.add(spec)
    assert reg["test.repeat"].call({"times": 3}, text="ab") == {"text": "ababab"}
    with pytest.raises(ValueError):
        reg.add(node("test.repeat", outputs={"text": TEXT}, registry=Registry())(lambda p: "x"))


def test_stream_node_blockwise_equals_whole(sine_audio):
    spec = default_registry()["audio.resample"]
    audio = sine_audio(440.0, 2.0, 48000)
    whole = spec.call({"sample_rate": 16000}, audio=audio)["audio"]
    params = spec.params(sample_rate=16000)
    blocked = run_stream(spec, params, {"audio": audio}, lambda r, c: MemorySink(r, c), block=1000)
    assert blocked.sample_rate == 16000 and abs(blocked.frames - 32000) <= 1
    n = min(whole.frames, blocked.frames)
    assert np.max(np.abs(whole.numpy()[:, :n] - blocked.numpy()[:, :n])) < 1e-4


def test_gain_changes_level_by_db(sine_audio):
    audio = sine_audio(220.0, 0.5)
    out = default_registry()["audio.gain"].call({"gain_db": -6.0}, audio=audio)["audio"]
    ratio_db = 20 * np.log10(np.max(np.abs(out.numpy())) / np.max(np.abs(audio.numpy())))
    assert ratio_db == pytest.approx(-6.0, abs=0.01)


def test_streaming_node_must_be_audio_only():
    class S:
        pass
    with pytest.raises(ValueError, match="streaming node"):
        node("test.bad", inputs={"text": TEXT}, outputs={"audio": AUDIO}, stream=S, registry=Registry())(None)


def test_audio_value_shape_checks():
    a = Audio(np.zeros(100), 8000)
    assert (a.channels, a.frames) == (1, 100) and a.data.dtype == np.float32
    with pytest.raises(ValueError):
        Audio(np.zeros((1, 2, 3)), 8000)
    with pytest.raises(ValueError):
        Audio(np.zeros(10), 0)


def test_memory_need_from_input_sizes():
    from haysay.graph_engine.values import AudioShape

    reg = Registry()

    class Stream:
        def __init__(self, params, rates, channels):
            self.out_rate, self.out_channels = rates[0], channels[0]

        def process(self, block):
            return block

    per_sample = node("t.whole", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, memory=10.0, memory_mb=100,
                      registry=reg)(lambda params, audio: audio)
    by_fn = node("t.fn", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, registry=reg,
                 memory=lambda p, s: 2 * s["audio"].nbytes,
                 shape=lambda p, s: s["audio"].with_(frames=s["audio"].frames * 2))(lambda params, audio: audio)
    streams = node("t.stream", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, stream=Stream, registry=reg)(None)
    undeclared = node("t.plain", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, registry=reg)(lambda params, audio: audio)
    hour = {"audio": AudioShape(3600 * 48000, 2, 48000)}  # 345.6 M samples
    p = per_sample.params()
    assert per_sample.memory_need_mb(p, hour) == pytest.approx(100 + 10 * 345.6e6 / 2**20)
    assert by_fn.memory_need_mb(p, hour) == pytest.approx(256 + 2 * 4 * 345.6e6 / 2**20)
    assert by_fn.output_shape(p, hour).frames == 2 * 3600 * 48000
    assert streams.memory_need_mb(p, hour) < 256 + 8  # a few blocks, whatever the length
    assert streams.output_shape(p, hour) == hour["audio"]  # passes its input's shape through
    assert undeclared.memory_need_mb(p, hour) > 256 + 3000  # assumed to hold its input and a working copy
    assert [s.memory_declared for s in (per_sample, by_fn, streams, undeclared)] == [True, True, True, False]
