"""so-vits-svc 4.1 feature retrieval: `feature_and_index.pkl`, one faiss index per speaker id.

Upstream writes the file with `pickle.dump({speaker_id: faiss.Index})` and reads it with `pickle.load`,
which would run whatever the file names. Here it is read by an unpickler that knows only what such a file
holds: a dict, int or str keys, and faiss index objects, whose pickled state is faiss's own serialised
bytes. Each index class name is mapped to an inert holder (faiss is never called during unpickling);
afterwards the bytes go to `faiss.deserialize_index`, the parser behind `faiss.read_index`, which RVC's
`.index` files already pass through. Any other global (os.system, builtins.eval, numpy, ...) is refused.
"""
from __future__ import annotations

import io
import pickle
import re
from _compat_pickle import IMPORT_MAPPING
from pathlib import Path
from typing import Any

import numpy as np

from haysay.nodes.vc.retrieval import FeatureIndex
from haysay.nodes.vc.retrieval import retrieve as _retrieve
from haysay.nodes.vc.safe_load import CheckpointError

_FAISS_MODULE = re.compile(r"^faiss(\.swigfaiss\w*)?$")  # swigfaiss, swigfaiss_avx2, swigfaiss_avx512, ...
_FAISS_CLASS = re.compile(r"^Index\w*$")
_MAX_BYTES = 8 << 30


class _PickledIndex:
    """What a pickled faiss index turns into here: the class name and the serialised bytes, nothing run."""

    faiss_class = "?"

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state


class _Refused(pickle.UnpicklingError):
    """A global outside what a feature index holds (as opposed to a merely damaged pickle)."""


def _holder(name: str) -> type:
    return type(name, (_PickledIndex,), {"faiss_class": name})


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    # protocol 0/1 pickles build objects through copyreg._reconstructor(cls, object, None)
    if not (isinstance(cls, type) and issubclass(cls, _PickledIndex)) or base is not object or state is not None:
        raise _Refused("the pickle uses copyreg._reconstructor for something other than a faiss index")
    return cls.__new__(cls)


def _latin1(text: Any, encoding: Any = None) -> bytes:
    # protocol 2 writes bytes as _codecs.encode(str, "latin1")
    if not isinstance(text, str) or encoding != "latin1":
        raise _Refused("the pickle uses _codecs.encode for something other than bytes")
    return text.encode("latin1")


class _IndexUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = IMPORT_MAPPING.get(module, module)  # protocol 0-2 pickles name Python 2 modules (copy_reg)
        if (module, name) == ("_codecs", "encode"):
            return _latin1
        if _FAISS_MODULE.match(module) and _FAISS_CLASS.match(name):
            return _holder(name)
        if (module, name) == ("copyreg", "_reconstructor"):
            return _reconstructor
        if (module, name) == ("builtins", "object"):
            return object
        raise _Refused(f"the pickle refers to {module}.{name}, which a feature index may not "
                                     "contain (it would run code)")


def _deserialize(path: Path, key: Any, obj: Any):
    import faiss

    state = obj.__dict__.get("state") if isinstance(obj, _PickledIndex) else None
    blob = state.get("this") if isinstance(state, dict) else None
    if not isinstance(blob, (bytes, bytearray)):
        raise CheckpointError(path, f"speaker {key!r}: not a faiss index (no serialised index bytes)")
    try:
        index = faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8))
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(path, f"speaker {key!r}: damaged faiss index ({msg})") from None
    if index.ntotal == 0:
        raise CheckpointError(path, f"speaker {key!r}: the index holds no features")
    try:
        vectors = index.reconstruct_n(0, index.ntotal)
    except Exception as exc:
        raise CheckpointError(path, f"speaker {key!r}: cannot read the stored features back ({exc})") from None
    return FeatureIndex(path, index, np.ascontiguousarray(vectors, dtype=np.float32))


def read_feature_index(path: str | Path) -> dict[int | str, FeatureIndex]:
    """{speaker id: FeatureIndex} from so-vits's feature_and_index.pkl, without running pickled code.

    Raises CheckpointError naming the file for a missing, damaged or hostile file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "feature index file does not exist")
    if path.stat().st_size > _MAX_BYTES:
        raise CheckpointError(path, "feature index file is implausibly large")
    try:
        with open(path, "rb") as fh:
            data = _IndexUnpickler(io.BufferedReader(fh)).load()
    except _Refused as exc:
        raise CheckpointError(path, f"{exc}; refusing to load it") from None
    except Exception as exc:  # truncated, not a pickle, or an allowed name misused
        raise CheckpointError(path, f"not a so-vits feature index, or a damaged one ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or not data:
        raise CheckpointError(path, "not a so-vits feature index: expected a non-empty {speaker id: faiss index} dict")
    out: dict[int | str, FeatureIndex] = {}
    for key, obj in data.items():
        if not isinstance(key, (int, str)) or isinstance(key, bool):
            raise CheckpointError(path, f"speaker key {key!r} is neither an id nor a name")
        out[key] = _deserialize(path, key, obj)
    return out


def speaker_index(indexes: dict[int | str, FeatureIndex], speaker_id: int, path: str | Path = "<index>") -> FeatureIndex:
    """The index for a speaker id (upstream keys the file by the model's spk ids)."""
    if speaker_id not in indexes:
        have = ", ".join(str(k) for k in indexes)
        raise CheckpointError(path, f"the feature index has no entry for speaker id {speaker_id} (it has {have})")
    return indexes[speaker_id]


def retrieve(features: np.ndarray, index: FeatureIndex, ratio: float, k: int = 8) -> np.ndarray:
    """Upstream's `feature_retrieval` blend for (frames, dims) units: ratio 1 = the k=8 neighbours'
    inverse-squared-distance weighted mean, 0 = the units unchanged (cluster_infer_ratio in so-vits)."""
    return _retrieve(features, index, ratio, k)
