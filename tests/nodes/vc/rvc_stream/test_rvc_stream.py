"""vc.rvc streaming: blocks delivered per segment concatenate to the whole-file conversion."""
from __future__ import annotations

import numpy as np
import pytest

from haysay.nodes.vc.rvc.pipeline import DeviceSettings, RVCOptions, convert_rvc
from haysay.nodes.vc.rvc.stream import STREAM_SETTINGS, stream_rvc

SHORT = DeviceSettings(False, 1, 0.5, 2.0, 2.5)  # cuts about every 2 s: an 8 s input gives 4 segments


def _both(speech16k, model, encoder, opts, settings=SHORT):
    whole = convert_rvc(speech16k, model, "v1", encoder, opts, settings=settings)
    blocks = list(stream_rvc(speech16k, model, "v1", encoder, opts, settings=settings))
    return whole, blocks


@pytest.mark.parametrize("rms_mix_rate", [0.25, 1.0])
def test_stream_concatenates_to_the_whole_file_run(speech16k, tiny_rvc, tiny_encoder, rms_mix_rate):
    whole, blocks = _both(speech16k, tiny_rvc, tiny_encoder, RVCOptions(rms_mix_rate=rms_mix_rate))
    assert len(whole.info["segments"]) >= 3
    got = np.concatenate([b.audio for b in blocks])
    assert got.size == whole.audio.size == blocks[0].total
    assert [b.start for b in blocks] == list(np.cumsum([0] + [b.audio.size for b in blocks[:-1]]))
    # upstream's whole-output limit (peak 0.99) does not engage here, so the stream is the same audio, bit for bit
    assert float(np.max(np.abs(whole.audio))) < 0.99
    assert np.array_equal(got, whole.audio)


def test_first_block_comes_before_the_last_segment_is_converted(speech16k, tiny_rvc, tiny_encoder):
    blocks = stream_rvc(speech16k, tiny_rvc, "v1", tiny_encoder, RVCOptions(), settings=SHORT)
    first = next(blocks)
    assert first.segment < first.segments and first.start == 0 and first.audio.size > 0
    rest = list(blocks)
    assert [b.segment for b in rest] == sorted(b.segment for b in rest) and rest[0].segment > first.segment
    assert rest[-1].start + rest[-1].audio.size == first.total


def test_resampled_stream_matches_within_soxr_chunking(speech16k, tiny_rvc, tiny_encoder):
    opts = RVCOptions(rms_mix_rate=1.0, resample_sr=22050)
    whole, blocks = _both(speech16k, tiny_rvc, tiny_encoder, opts)
    got = np.concatenate([b.audio for b in blocks])
    assert blocks[0].sample_rate == whole.sample_rate == 22050 and got.size == whole.audio.size
    err = np.sqrt(np.mean((got - whole.audio) ** 2)) / np.sqrt(np.mean(whole.audio ** 2))
    assert err < 1e-3


def test_default_stream_settings_split_short_and_keep_upstream_padding():
    assert STREAM_SETTINGS.x_pad == 1 and STREAM_SETTINGS.x_center < 5 and not STREAM_SETTINGS.half


def test_a_loud_output_is_limited_by_the_running_peak(speech16k, tiny_rvc, tiny_encoder):
    import copy

    import torch

    loud = copy.deepcopy(tiny_rvc)
    with torch.no_grad():
        loud.dec.conv_post.weight.mul_(1000.0)  # saturates the decoder's tanh past upstream's 0.99 limit
    whole, blocks = _both(speech16k, loud, tiny_encoder, RVCOptions(rms_mix_rate=1.0))
    got = np.concatenate([b.audio for b in blocks])
    assert np.max(np.abs(whole.audio)) == pytest.approx(0.99, abs=1e-6) and np.max(np.abs(got)) <= 0.99 + 1e-6
    # whole = raw / (P / 0.99); a block delivered before the peak P arrived is raw scaled by its running peak
    first = blocks[0].audio
    scale = np.max(np.abs(first)) / np.max(np.abs(whole.audio[:first.size]))
    np.testing.assert_allclose(first, whole.audio[:first.size] * scale, rtol=1e-4, atol=1e-6)
    assert scale >= 1.0 - 1e-6 and all(np.max(np.abs(b.audio)) <= 0.99 + 1e-6 for b in blocks)
