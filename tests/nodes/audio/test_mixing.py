"""audio.to_mono and audio.mix: measured levels, offsets and cross-correlation alignment, channel handling, rate mismatch, block-wise == whole."""
from __future__ import annotations

import numpy as np
import pytest

from haysay.graph_engine.values import Audio

RATE = 48000


def tone(freq, seconds=1.0, amp=0.5, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_to_mono_average_and_pick(tools):
    stereo = Audio(np.stack([tone(440), tone(1000, amp=0.25)]), RATE)
    avg = tools.call("audio.to_mono", {}, audio=stereo).numpy()
    assert avg.shape == (1, RATE)
    assert tools.level_at(avg[0], RATE, 440) == pytest.approx(20 * np.log10(0.25), abs=0.05)
    assert tools.level_at(avg[0], RATE, 1000) == pytest.approx(20 * np.log10(0.125), abs=0.05)
    right = tools.call("audio.to_mono", {"mode": "channel", "channel": 1}, audio=stereo).numpy()
    assert tools.level_at(right[0], RATE, 1000) == pytest.approx(20 * np.log10(0.25), abs=0.05)
    assert tools.level_at(right[0], RATE, 440) < -80


def test_to_mono_channel_out_of_range(tools):
    stereo = Audio(np.zeros((2, 100), np.float32), RATE)
    with pytest.raises(ValueError, match=r"channel=2 but the audio has 2 channel\(s\) \(0..1\)"):
        tools.call("audio.to_mono", {"mode": "channel", "channel": 2}, audio=stereo)


def test_mix_levels_and_length(tools):
    a, b = Audio.from_mono(tone(440, 1.0), RATE), Audio.from_mono(tone(1000, 0.5), RATE)
    out = tools.call("audio.mix", {"gain_a_db": -6.0, "gain_b_db": 3.0}, a=a, b=b).numpy()
    assert out.shape == (1, RATE)  # the longer input's length
    first = out[0, :RATE // 2]
    assert tools.level_at(first, RATE, 440) == pytest.approx(20 * np.log10(0.5) - 6.0, abs=0.05)
    assert tools.level_at(first, RATE, 1000) == pytest.approx(20 * np.log10(0.5) + 3.0, abs=0.05)
    assert tools.level_at(out[0, RATE // 2:], RATE, 1000) < -80  # b has ended: silence there


def test_mix_spreads_mono_over_stereo(tools):
    a = Audio(np.stack([tone(440), tone(440, amp=0.1)]), RATE)
    b = Audio.from_mono(tone(1000), RATE)
    out = tools.call("audio.mix", {}, a=a, b=b).numpy()
    assert out.shape == (2, RATE)
    for ch in out:
        assert tools.level_at(ch, RATE, 1000) == pytest.approx(20 * np.log10(0.5), abs=0.05)


def test_mix_errors_are_clear(tools):
    a = Audio.from_mono(tone(440), RATE)
    with pytest.raises(ValueError, match=r"sample rates differ \(a: 48000 Hz, b: 16000 Hz\).*audio.resample"):
        tools.call("audio.mix", {}, a=a, b=Audio.from_mono(tone(440, rate=16000), 16000))
    with pytest.raises(ValueError, match=r"input 'b' has 3 channels but the mix has 3|'a' has 2 channels"):
        tools.call("audio.mix", {}, a=Audio(np.zeros((2, 10), np.float32), RATE),
                   b=Audio(np.zeros((3, 10), np.float32), RATE))
    errs = tools.param_errors("audio.mix", {"gain_a_db": 30})
    assert errs[0].field == "gain_a_db" and "between -96.0 and 24.0 dB" in errs[0].message


@pytest.mark.parametrize("type_id,params,n_inputs", [
    ("audio.mix", {"gain_a_db": -3, "gain_b_db": -9}, 2),
    ("audio.to_mono", {}, 1),
])
def test_blockwise_equals_whole(tools, type_id, params, n_inputs):
    rng = np.random.default_rng(2)
    a = Audio(rng.uniform(-0.5, 0.5, (2, 9000)).astype(np.float32), RATE)
    b = Audio(rng.uniform(-0.5, 0.5, (2, 7000)).astype(np.float32), RATE)
    inputs = {"a": a, "b": b} if n_inputs == 2 else {"audio": a}
    whole = tools.call(type_id, params, **inputs).numpy()
    streamed = tools.stream_in_blocks(type_id, params, 1000, **inputs).numpy()
    np.testing.assert_allclose(streamed, whole, atol=1e-7)
    assert whole.shape[1] == 9000


def clicks(at_s, seconds=1.0):
    x = np.zeros(int(seconds * RATE), np.float32)
    x[int(round(at_s * RATE))] = 1.0
    return x


@pytest.mark.parametrize("offset_ms", [125.0, -40.0])
def test_mix_offset_moves_b_against_a(tools, offset_ms):
    a, b = Audio.from_mono(clicks(0.2), RATE), Audio.from_mono(0.5 * clicks(0.2), RATE)
    out = tools.call("audio.mix", {"offset_b_ms": offset_ms, "gain_b_db": 6.0}, a=a, b=b).mono()
    shift = int(round(abs(offset_ms) * RATE / 1000))
    assert out.size == RATE + shift  # the later input is delayed, never cut
    peaks = sorted(np.flatnonzero(np.abs(out) > 0.1))
    assert len(peaks) == 2 and peaks[1] - peaks[0] == shift
    later = peaks[1] if offset_ms > 0 else peaks[0]  # b's click, 6 dB up from 0.5
    assert out[later] == pytest.approx(0.5 * 10 ** (6 / 20), rel=1e-5)


def test_mix_aligns_a_delayed_copy_by_cross_correlation(tools, speech):
    x = speech.mono()
    lag = int(0.037 * speech.sample_rate)  # 37 ms late, as a conversion's latency might leave it
    late = Audio.from_mono(np.concatenate([np.zeros(lag, np.float32), x]), speech.sample_rate)
    out = tools.call("audio.mix", {"align": "xcorr", "max_lag_ms": 200}, a=speech, b=late).mono()
    # a is delayed to meet b: the copies add in phase, exactly twice the speech
    np.testing.assert_allclose(out[lag:lag + x.size], 2 * x, atol=1e-6)
    unaligned = tools.call("audio.mix", {}, a=speech, b=late).mono()
    assert tools.rms_db(out) - tools.rms_db(unaligned) > 2.0  # coherent (+6 dB) against nearly incoherent (+3 dB)
    early = Audio.from_mono(x[lag:], speech.sample_rate)  # b early: b is delayed instead
    out = tools.call("audio.mix", {"align": "xcorr", "max_lag_ms": 200}, a=speech, b=early).mono()
    np.testing.assert_allclose(out[lag:x.size], 2 * x[lag:], atol=1e-6)
    # the search window bounds the lag: outside it the lag is not found
    out = tools.call("audio.mix", {"align": "xcorr", "max_lag_ms": 10}, a=speech, b=late).mono()
    assert not np.allclose(out[lag:lag + x.size], 2 * x, atol=1e-3)


@pytest.mark.parametrize("params", [{"offset_b_ms": 30}, {"offset_b_ms": -7, "gain_a_db": -4},
                                    {"align": "xcorr", "align_window_s": 0.5},  # lag found mid-stream
                                    {"align": "xcorr", "offset_b_ms": 5}])     # all of it held: found at flush
def test_mix_offset_and_align_blockwise_equal_whole(tools, params):
    rng = np.random.default_rng(5)
    a = rng.uniform(-0.5, 0.5, (2, 40000)).astype(np.float32)
    b = np.concatenate([np.zeros((2, 700), np.float32), a[:, :30000]], axis=1)
    a_, b_ = Audio(a, RATE), Audio(b, RATE)
    whole = tools.call("audio.mix", params, a=a_, b=b_).numpy()
    streamed = tools.stream_in_blocks("audio.mix", params, 3000, a=a_, b=b_).numpy()
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-7)
    if params.get("align") == "xcorr":
        shift = 700 - int(round(params.get("offset_b_ms", 0) * RATE / 1000))  # a delayed to meet b, less the offset
        assert whole.shape[1] == 40000 + shift
        # out[t] = a[t - shift] + b[t]
        np.testing.assert_allclose(whole[:, shift + 1000:shift + 2000], a[:, 1000:2000] + b[:, shift + 1000:shift + 2000],
                                   atol=1e-6)


def test_mix_shape_is_known_before_running():
    from haysay.graph_engine import parse_pipeline, plan

    def frames(params):
        p = plan(parse_pipeline({"format": "haysay.pipeline/1", "nodes": [
            {"id": "a", "type": "gen.tone", "params": {"duration": 1.0}},
            {"id": "b", "type": "gen.tone", "params": {"duration": 0.5}},
            {"id": "m", "type": "audio.mix", "params": params}],
            "edges": [{"from": "a.audio", "to": "m.a"}, {"from": "b.audio", "to": "m.b"}], "outputs": {}}))
        assert p.ok, p.errors
        shape = p.graph.nodes["m"].get("shape")
        return shape.frames if shape is not None else None
    assert frames({"offset_b_ms": 250}) == 48000 + 12000
    assert frames({"offset_b_ms": -250}) == 48000 + 12000
    assert frames({"align": "xcorr"}) is None  # the lag is measured when it runs
