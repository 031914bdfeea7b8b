"""analysis.transcribe: what was said (PocketSphinx with the US English model inside its wheel) and
the word error rate against what should have been said (e.g. the text a TTS stage spoke)."""
from __future__ import annotations

import re
import threading
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, TEXT, Port, node
from haysay.graph_engine.values import Audio, Metrics, PortType
from haysay.nodes.analysis.measure import mono_at, package_versions, report, require

require("pocketsphinx")  # models inside these wheels; without them the node is left out

RATE = 16000  # the bundled acoustic model's rate
_LOCK = threading.Lock()  # a decoder holds one utterance at a time
_WORD = re.compile(r"[a-z0-9']+")
MAX_UTTERANCE_S = 30.0  # longest piece decoded as one utterance
CUT_SEARCH_S = 5.0  # where before that limit a pause is looked for


def words(text: str) -> list[str]:
    """Lower-case words with punctuation dropped ("Don't stop." -> ["don't", "stop"])."""
    return [w.strip("'") for w in _WORD.findall(text.lower()) if w.strip("'")]


def word_errors(reference: list[str], hypothesis: list[str]) -> tuple[int, int, int]:
    """(substitutions, deletions, insertions) of the cheapest alignment (Levenshtein over words)."""
    n, m = len(reference), len(hypothesis)
    # cost[j] and ops[j] = (S, D, I) for reference[:i] against hypothesis[:j], one row at a time
    ops = [(0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        prev, ops = ops, [(0, i, 0)] + [(0, 0, 0)] * m
        for j in range(1, m + 1):
            if reference[i - 1] == hypothesis[j - 1]:
                ops[j] = prev[j - 1]
                continue
            s, d, ins = prev[j - 1], prev[j], ops[j - 1]
            best = min((sum(s) + 1, 0), (sum(d) + 1, 1), (sum(ins) + 1, 2))[1]
            ops[j] = ((s[0] + 1, s[1], s[2]), (d[0], d[1] + 1, d[2]), (ins[0], ins[1], ins[2] + 1))[best]
    return ops[m]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(S + D + I) / reference words, after `words()` normalisation; refuses an empty reference."""
    ref = words(reference)
    if not ref:
        raise ValueError("reference: has no words to score against")
    return sum(word_errors(ref, words(hypothesis))) / len(ref)


@lru_cache(maxsize=1)
def _decoder():
    from pocketsphinx import Decoder
    return Decoder(loglevel="FATAL")  # its defaults are the en-us model, dictionary and LM of the wheel


def utterance_cuts(samples: np.ndarray, rate: int, max_s: float = MAX_UTTERANCE_S,
                   search_s: float = CUT_SEARCH_S) -> list[int]:
    """Sample offsets splitting a long signal into pieces of at most `max_s`, each cut at the quietest
    10 ms frame of the last `search_s` before the limit (a pause, in speech)."""
    limit, hop = max(int(max_s * rate), 2 * max(1, rate // 100)), max(1, rate // 100)
    search = max(hop, min(int(search_s * rate), limit // 2))  # each piece at least half the limit
    cuts, at = [], 0
    while samples.size - at > limit:
        lo = at + limit - search
        window = samples[lo:at + limit].astype(np.float64)
        frames = window[: window.size // hop * hop].reshape(-1, hop)
        cut = lo + int(np.argmin((frames ** 2).mean(axis=1))) * hop + hop // 2
        cuts.append(cut)
        at = cut
    return cuts


def recognize(samples_16k: np.ndarray, max_utterance_s: float = MAX_UTTERANCE_S) -> str:
    """PocketSphinx's best hypothesis for mono float samples at 16 kHz ('' when it hears nothing).
    Long audio is decoded as utterances of at most `max_utterance_s`, cut in pauses, so the search
    never holds an hour's lattice."""
    x = np.clip(np.asarray(samples_16k, dtype=np.float32), -1.0, 1.0)
    edges = [0, *utterance_cuts(x, RATE, max_utterance_s), x.size]
    said = []
    with _LOCK:
        dec = _decoder()
        for a, b in zip(edges[:-1], edges[1:]):
            dec.start_utt()
            dec.process_raw((x[a:b] * 32767.0).astype("<i2").tobytes(), full_utt=True)
            dec.end_utt()
            hyp = dec.hyp()
            if hyp is not None and hyp.hypstr.strip():
                said.append(hyp.hypstr.strip())
    return " ".join(said)


class TranscribeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference_text: str = Field("", max_length=100_000,
                                description="What should have been said; the word error rate is scored against it "
                                            "(a text on the `reference` port takes precedence). Empty: transcript only")


@node("analysis.transcribe",
      inputs=[Port("audio", AUDIO, description="Speech to transcribe (English)"),
              Port("reference", TEXT, optional=True, description="What should have been said (e.g. the TTS input)")],
      outputs={"metrics": PortType.METRICS}, params=TranscribeParams, category="analysis",
      title="Transcribe (WER)", memory_mb=384, memory=24.0,  # measured 16.4 B/sample (60 s, 22.05 kHz)
      tags=("asr", "wer", "evaluation"), fingerprint=package_versions("pocketsphinx"))
def transcribe(params: TranscribeParams, audio: Audio, ctx, reference: str | None = None) -> Metrics:
    """Transcribe English speech with PocketSphinx and score it: word error rate (substitutions,
    deletions and insertions over the reference's words) against the reference text. Words are
    compared lower-case without punctuation; digits are not spelt out."""
    hypothesis = recognize(mono_at(audio, RATE)) if audio.frames else ""
    ref_text = reference if reference is not None and reference.strip() else params.reference_text
    values: dict[str, float] = {"words": len(words(hypothesis))}
    units = {"words": ""}
    if ref_text.strip():
        ref = words(ref_text)
        if not ref:
            raise ValueError("reference_text: has no words to score against")
        s, d, i = word_errors(ref, words(hypothesis))
        values.update(wer=(s + d + i) / len(ref), substitutions=s, deletions=d, insertions=i, reference_words=len(ref))
    return report(ctx, Metrics(values, units, text=hypothesis))
