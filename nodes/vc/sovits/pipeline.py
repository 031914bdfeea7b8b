"""so-vits-svc 4.x inference as upstream's Svc.slice_inference / Svc.infer run it: the input sliced at
silences, each voiced chunk padded and converted (f0 + 16 kHz content, cluster blend, volume ->
synthesizer -> optional post-processing -> loudness envelope), trimmed and centred in place."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import soxr
import torch
import torch.nn.functional as F
from torchaudio.transforms import Resample

from haysay.nodes.vc.content.hubert import SAMPLE_RATE as SSL_RATE
from haysay.nodes.vc.content.speech_encoders import speech_features
from haysay.nodes.vc.pitch import SOVITS_F0_METHODS, interpolate_unvoiced, sovits_f0, track_f0
from haysay.nodes.vc.sovits.checkpoint import SovitsModelInfo
from haysay.nodes.vc.sovits.envelope import change_rms, hop_volume
from haysay.nodes.vc.sovits.models import SovitsSynthesizer
from haysay.nodes.vc.sovits.slicer import Slicing, convert_sliced, model_frames, slice_silence
from haysay.nodes.vc.sovits.speaker_mix import Segment, frames_for_call, mix_track

RESAMPLERS = ("torchaudio", "soxr")


@dataclass
class SovitsOptions:
    speaker: str = ""
    speaker_mix: dict[str, float] = field(default_factory=dict)  # name -> weight; empty: `speaker` alone
    speaker_mix_track: dict[str, list[Segment]] = field(default_factory=dict)  # upstream spkmix.py, by name
    transpose: float = 0.0
    f0_method: str = "pm"
    cr_threshold: float = 0.05
    f0_filter: bool = False
    noise_scale: float | None = None  # None: the model version's upstream value
    auto_predict_f0: bool = False
    cluster_ratio: float = 0.0
    loudness_envelope_adjustment: float = 1.0
    slicing: Slicing = field(default_factory=Slicing)
    resampler: str = "torchaudio"
    seed: int = 52468


@dataclass
class SovitsResult:
    audio: np.ndarray
    sample_rate: int
    f0: np.ndarray  # Hz per frame the decoder was driven with, concatenated over synthesizer calls
    info: dict = field(default_factory=dict)


@dataclass
class FrontEnd:
    """Where a piece's pitch and 16 kHz audio come from; None: haysay's tracker and resampler. Tests put
    upstream's own arrays here to compare everything downstream of them."""
    f0: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None  # model-rate wav -> (f0 Hz, uv)
    wav16k: Callable[[np.ndarray], np.ndarray] | None = None


@dataclass
class SynthOutput:
    """One synthesizer call, for post-processing (shallow diffusion, enhancer) that needs its inputs."""
    audio: torch.Tensor   # (samples,) at sample_rate
    wav: np.ndarray       # the model-rate input piece
    content: torch.Tensor  # (1, dims, frames)
    f0: torch.Tensor      # (1, frames) Hz the decoder used
    uv: torch.Tensor
    volume: torch.Tensor | None
    speaker: int | torch.Tensor
    sample_rate: int
    hop: int
    generator: torch.Generator | None = None  # the piece's noise stream, continued as upstream's global RNG is


PostProcess = Callable[[SynthOutput], torch.Tensor]
# (frames, dims) float32 content -> blended content, in place of the k-means blend (feature retrieval)
FeatureBlend = Callable[[np.ndarray], np.ndarray]


def speaker_id(info: SovitsModelInfo, speaker: str, field_name: str = "speaker") -> tuple[int, str]:
    """Resolve a speaker name (or numeric id) from config.json's `spk`; default: the first speaker."""
    spk = info.speakers
    if not speaker:
        if not spk:
            return 0, "0"
        name = min(spk, key=spk.get)
        return spk[name], name
    if speaker in spk:
        return spk[speaker], speaker
    folded = {k.casefold(): k for k in spk}
    if speaker.casefold() in folded:
        name = folded[speaker.casefold()]
        return spk[name], name
    if speaker.isdigit() and int(speaker) < info.config.n_speakers:
        ids = {v: k for k, v in spk.items()}
        return int(speaker), ids.get(int(speaker), speaker)
    raise ValueError(f"{field_name}: {speaker!r} is not in this model; it has "
                     f"{', '.join(spk) or 'no named speakers'}")


def speaker_weights(info: SovitsModelInfo, mix: dict[str, float]) -> torch.Tensor:
    """Speaker-mix weights over embedding ids, normalised to sum 1 as upstream normalises its mix track."""
    weights = torch.zeros(info.config.n_speakers)
    for name, w in mix.items():
        if w < 0:
            raise ValueError(f"speaker_mix: weight {w} for {name!r} is negative")
        weights[speaker_id(info, name, "speaker_mix")[0]] += w
    if weights.sum() <= 0:
        raise ValueError("speaker_mix: the weights sum to 0")
    return weights / weights.sum()


def repeat_expand(content: torch.Tensor, frames: int, mode: str = "left") -> torch.Tensor:
    """(dims, n) content frames -> (dims, frames) on the f0 grid, as upstream's repeat_expand_2d: "left"
    holds each content frame over the f0 frames starting inside it, other modes are F.interpolate's."""
    if mode != "left":
        return F.interpolate(content[None], size=frames, mode=mode)[0]
    src = content.shape[-1]
    edges = (torch.arange(src + 1) * frames / src).tolist()
    idx, pos = [], 0
    for i in range(frames):  # upstream advances at most one content frame per f0 frame
        if i >= edges[pos + 1]:
            pos += 1
        idx.append(pos)
    return content[:, torch.tensor(idx, device=content.device)]


def nearest_centers(features: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Each (frames, dims) row replaced by its nearest k-means centre (sklearn KMeans.predict)."""
    d = (features ** 2).sum(1, keepdims=True) - 2 * features @ centers.T + (centers ** 2).sum(1)[None]
    return centers[np.argmin(d, axis=1)]


def resample(wav: np.ndarray, rate: int, target: int, resampler: str = "torchaudio") -> np.ndarray:
    """float32 `wav` at `target`: torchaudio's default windowed sinc (upstream's Resample) or soxr."""
    if rate == target:
        return np.asarray(wav, np.float32)
    if resampler == "soxr":
        return soxr.resample(np.asarray(wav, np.float32), rate, target)
    if resampler != "torchaudio":
        raise ValueError(f"resampler: unknown {resampler!r}; one of {', '.join(RESAMPLERS)}")
    # the transform, not functional.resample: its kernel is computed in float64 (then float32), as upstream's
    return Resample(rate, target)(torch.from_numpy(np.asarray(wav, np.float32))[None])[0].numpy()


def _track(wav: np.ndarray, info: SovitsModelInfo, opts: SovitsOptions, device: str) -> tuple[np.ndarray, np.ndarray]:
    sr, hop = info.config.sampling_rate, info.hop_length
    if opts.f0_method in SOVITS_F0_METHODS:
        try:
            return sovits_f0(wav, sr, hop, opts.f0_method, device=device, threshold=opts.cr_threshold)
        except ValueError as exc:  # located on this node's field, which upstream calls f0_predictor
            raise ValueError(str(exc).replace("f0_predictor:", "f0_method:", 1)) from None
    # haysay's extra trackers (crepe-tiny): generic tracking on the frame grid, gaps filled as upstream does
    return interpolate_unvoiced(track_f0(wav, sr, opts.f0_method, hop / sr, wav.size // hop, device))


def infer_piece(wav: np.ndarray, model: SovitsSynthesizer | None, info: SovitsModelInfo, encoder: torch.nn.Module,
                opts: SovitsOptions, speaker: int | torch.Tensor, centers: np.ndarray | None = None,
                device: str = "cpu", front_end: FrontEnd | None = None, post: PostProcess | None = None,
                blend: FeatureBlend | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Upstream Svc.infer on one model-rate piece: -> (audio (samples,), f0 used (frames,)). With `model`
    None the piece itself goes to `post` in place of the synthesizer's audio (upstream's only_diffusion)."""
    front_end = front_end or FrontEnd()
    sr, hop = info.config.sampling_rate, info.hop_length
    wav = np.asarray(wav, np.float32)
    if wav.size < hop:  # not one frame (only with pad_seconds 0): nothing the synthesizer can make
        return torch.zeros(0, device=device), torch.zeros(0, device=device)
    f0, uv = (front_end.f0 or (lambda w: _track(w, info, opts, device)))(wav)
    if opts.f0_filter and np.sum(f0) == 0:
        raise ValueError("f0_filter: no voiced frame in a chunk (turn f0_filter off to convert it anyway)")
    f0_t = torch.as_tensor(np.asarray(f0), dtype=torch.float32, device=device)[None] * 2 ** (opts.transpose / 12)
    uv_t = torch.as_tensor(np.asarray(uv), dtype=torch.float32, device=device)[None]
    wav16 = front_end.wav16k(wav) if front_end.wav16k else resample(wav, sr, SSL_RATE, opts.resampler)
    c = speech_features(encoder, info.speech_encoder, torch.as_tensor(np.asarray(wav16, np.float32))[None].to(device))
    if c.shape[-1] != info.config.ssl_dim:
        raise ValueError(f"content_encoder: gives {c.shape[-1]}-dim features ({info.speech_encoder}) but the "
                         f"model's ssl_dim is {info.config.ssl_dim}")
    c = repeat_expand(c[0].T.float(), f0_t.shape[1], info.unit_interpolate_mode)
    if blend is not None:  # upstream's feature retrieval takes the cluster model's place
        c = torch.from_numpy(np.ascontiguousarray(blend(c.T.cpu().numpy()), np.float32).T).to(device)
    elif centers is not None and opts.cluster_ratio != 0:
        if centers.shape[1] != c.shape[0]:
            raise ValueError(f"cluster_model: centres are {centers.shape[1]}-dim, features {c.shape[0]}-dim")
        clustered = torch.from_numpy(nearest_centers(c.T.cpu().numpy(), centers).T).to(device)
        c = opts.cluster_ratio * clustered + (1 - opts.cluster_ratio) * c
    wav_t = torch.from_numpy(wav).to(device)
    vol = hop_volume(wav_t, hop)[None] if info.config.vol_embedding else None
    # upstream reseeds torch on every call, so each piece's noise starts from the same state
    gen = torch.Generator(device=device).manual_seed(opts.seed)
    if model is None:
        audio, used = wav_t, f0_t
    else:
        noise = model.upstream_noise_scale if opts.noise_scale is None else opts.noise_scale
        audio, used = model.infer(c[None], f0_t, uv_t, speaker, noise, opts.auto_predict_f0, vol, gen)
        audio = audio[0, 0].float()
    if post is not None:  # where upstream runs shallow diffusion / the NSF-HiFiGAN enhancer
        audio = post(SynthOutput(audio, wav, c[None], used, uv_t, vol, speaker, sr, hop, gen))
    if opts.loudness_envelope_adjustment != 1:
        audio = change_rms(wav, sr, audio, sr, opts.loudness_envelope_adjustment)
    return audio, used[0]


def convert_sovits(wav: np.ndarray, model: SovitsSynthesizer | None, info: SovitsModelInfo, encoder: torch.nn.Module,
                   opts: SovitsOptions, centers: dict[str, np.ndarray] | None = None, device: str = "cpu", *,
                   sample_rate: int | None = None, front_end: FrontEnd | None = None,
                   post: PostProcess | None = None, blend: FeatureBlend | None = None) -> SovitsResult:
    """Convert mono speech at `sample_rate` (default: the model's) as upstream Svc.slice_inference does:
    sliced at silences at the input rate, each padded chunk resampled to the model's rate and converted."""
    if opts.speaker_mix and opts.speaker_mix_track:
        raise ValueError("speaker_mix_track: give either speaker_mix or speaker_mix_track, not both")
    if (opts.speaker_mix or opts.speaker_mix_track) and opts.cluster_ratio:
        raise ValueError("cluster_ratio: upstream applies no cluster model when speakers are mixed; "
                         "set it to 0 or clear the speaker mix")
    if opts.speaker_mix:
        speaker: int | torch.Tensor = speaker_weights(info, opts.speaker_mix)
        name = "+".join(f"{k}:{v:g}" for k, v in opts.speaker_mix.items())
    elif opts.speaker_mix_track:
        speaker, name = 0, "track:" + "+".join(opts.speaker_mix_track)
    else:
        speaker, name = speaker_id(info, opts.speaker)
    spk_centers = None
    if centers is not None and opts.cluster_ratio != 0:
        if name not in centers:
            raise ValueError(f"cluster_model: has no centres for speaker {name!r} (it has {', '.join(centers)})")
        spk_centers = centers[name]
    sr, hop = info.config.sampling_rate, info.hop_length
    sample_rate = sample_rate or sr
    wav = np.asarray(wav, np.float32)
    chunks = slice_silence(wav, sample_rate, opts.slicing.slice_db)
    track = None
    if opts.speaker_mix_track:
        ids: dict[int, list[Segment]] = {}
        for spk, segments in opts.speaker_mix_track.items():
            ids[speaker_id(info, spk, "speaker_mix_track")[0]] = list(segments)
        track = mix_track(ids, info.config.n_speakers, model_frames(wav, chunks, sample_rate, sr, hop, opts.slicing))
    used: list[np.ndarray] = []
    frame = [0]  # upstream's global frame: where each call's stretch of the mix track starts

    def convert(padded: np.ndarray) -> np.ndarray:
        piece = resample(padded, sample_rate, sr, opts.resampler)
        voice = speaker if track is None else frames_for_call(track, frame[0], piece.size // hop)
        audio, f0 = infer_piece(piece, model, info, encoder, opts, voice, spk_centers, device, front_end, post,
                                blend)
        used.append(f0.cpu().numpy())
        frame[0] += f0.shape[0]
        return audio.cpu().numpy()

    def silence(length: int) -> None:
        frame[0] += length // hop

    audio, chunks = convert_sliced(wav, sample_rate, sr, opts.slicing, convert, chunks, silence)
    silent = sum(1 for c in chunks if c.silent and c.end > c.start)
    return SovitsResult(audio, sr, np.concatenate(used) if used else np.zeros(0, np.float32),
                        {"speaker": name, "pieces": len(used), "silent_chunks": silent})

