"""Reading community checkpoints without running their code.

Every file goes through `torch.load(weights_only=True)`. Research checkpoints
(fairseq HuBERT/ContentVec) also pickle their training config as argparse,
omegaconf and fairseq objects; those names are mapped to inert stand-ins that
only record the state they were given, so loading never imports fairseq or
omegaconf and never runs a constructor from the file. Any other class or
function a pickle names (os.system, builtins.eval, ...) is refused.

Before torch allocates anything, `check_checkpoint` reads the archive's sizes and
walks the pickle with inert stand-ins for every name: a storage declared larger
than the bytes the file holds for it, a tensor view reaching past its storage,
members that inflate far beyond the file (a zip bomb), or a pickle that builds
millions of objects are refused with the figures. A small file therefore never
costs much more memory than its own size.
"""
from __future__ import annotations

import io
import math
import os
import pickle
import pickletools
import re
import zipfile
from collections import OrderedDict
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch


MAX_PICKLE_BYTES = 64 << 20        # a model's data.pkl is kilobytes; its weights live in separate records
MAX_PICKLE_OBJECTS = 2_000_000     # containers and calls the pickle may build (real ones: a few thousand)
MAX_EXPANSION = 1.5                # torch writes records stored; deflated ones barely shrink float weights
MAX_CHECKPOINT_BYTES = 16 << 30    # declared tensor bytes, whatever the file size
_BUILDING_OPS = {"EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE", "EMPTY_SET", "DICT", "LIST", "TUPLE", "TUPLE1",
                 "TUPLE2", "TUPLE3", "FROZENSET", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "OBJ", "INST", "BUILD"}


class CheckpointError(ValueError):
    """A model file that cannot be used: wrong format, missing keys, shapes that do not fit, unsafe pickle."""

    def __init__(self, path: str | Path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{self.path}: {problem}")


class InertObject:
    """Stand-in for a pickled config object: keeps constructor args and state, runs nothing."""

    _qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any):
        self.__dict__["_args"] = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and (state[1] is None or isinstance(state[1], dict)):
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state

    def __repr__(self) -> str:
        return f"<inert {self._qualname}>"


# Config classes research checkpoints pickle. Matched by module prefix; the stand-in never imports the module.
_INERT_MODULES = ("fairseq.", "omegaconf.", "argparse", "typing", "enum", "pathlib", "collections", "dataclasses")
_INERT_BUILTINS = {"builtins." + n for n in ("dict", "list", "tuple", "int", "float", "str", "bool", "object",
                                              "type", "NoneType", "frozenset", "bytes")}
def _numpy_globals() -> dict[str, Any]:
    import numpy._core.multiarray as ma  # numpy>=2; files written with numpy 1.x name numpy.core

    found = {"numpy.core.multiarray._reconstruct": ma._reconstruct, "numpy._core.multiarray._reconstruct": ma._reconstruct,
             "numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype,
             "numpy.core.multiarray.scalar": ma.scalar, "numpy._core.multiarray.scalar": ma.scalar}
    # BUILD on a dtype needs its class admitted too (arrays never name it in GLOBAL)
    for name in ("Float32DType", "Float64DType", "Float16DType", "Int64DType", "Int32DType", "Int16DType",
                 "Int8DType", "UInt8DType", "BoolDType"):
        if hasattr(np.dtypes, name):
            found[f"numpy.dtypes.{name}"] = getattr(np.dtypes, name)
    return found


_stand_ins: dict[str, type] = {}


def _stand_in(full_name: str) -> type:
    cls = _stand_ins.get(full_name)
    if cls is None:
        cls = type(full_name.rsplit(".", 1)[-1], (InertObject,), {"_qualname": full_name})
        _stand_ins[full_name] = cls
    return cls


def _py3_name(module: str, name: str) -> str:
    # Protocol-2 pickles use Python 2 names (__builtin__.dict); resolve them as the unpickler will.
    if (module, name) in NAME_MAPPING:
        module, name = NAME_MAPPING[(module, name)]
    elif module in IMPORT_MAPPING:
        module = IMPORT_MAPPING[module]
    return f"{module}.{name}"


def pickle_globals(path: Path) -> list[str]:
    """Every `module.name` a torch checkpoint's pickle refers to (zip or legacy format)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    names: set[str] = set()
    if head == b"PK\x03\x04":
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise CheckpointError(path, f"damaged or truncated checkpoint ({exc})") from None
        with zf:
            records = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
            if not records:
                raise CheckpointError(path, "zip file without a data.pkl: not a torch checkpoint")
            size = zf.getinfo(records[0]).file_size
            if size > MAX_PICKLE_BYTES:
                raise CheckpointError(path, f"its data.pkl is {size} bytes (at most {MAX_PICKLE_BYTES}): "
                                            "not a model checkpoint")
            streams = [io.BytesIO(zf.read(records[0]))]
            count = 1
    else:
        streams, count = [open(path, "rb")], 4  # legacy format: magic, protocol, sys info, then the object
    for stream in streams:
        try:
            built = 0
            for _ in range(count):
                recent: list[str] = []
                for op, arg, _pos in pickletools.genops(stream):
                    if op.name in _BUILDING_OPS:
                        built += 1
                        if built > MAX_PICKLE_OBJECTS:
                            raise CheckpointError(path, f"its pickle builds more than {MAX_PICKLE_OBJECTS} "
                                                        "objects: not a model checkpoint")
                    if op.name == "GLOBAL":
                        names.add(_py3_name(*str(arg).split(" ", 1)))
                    elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                        recent = (recent + [arg])[-2:]
                    elif op.name == "STACK_GLOBAL" and len(recent) == 2:
                        names.add(".".join(recent))
        except CheckpointError:
            raise
        except Exception as exc:  # truncated or not a pickle at all
            raise CheckpointError(path, f"not a readable torch checkpoint ({type(exc).__name__}: {exc})") from None
        finally:
            stream.close()
    return sorted(names)


def _allowed(name: str) -> bool:
    return name.startswith(_INERT_MODULES) or name in _INERT_BUILTINS


def safe_torch_load(path: str | Path, what: str = "checkpoint") -> Any:
    """torch.load(weights_only=True) with config classes mapped to inert stand-ins.

    Raises CheckpointError naming the file for a missing/truncated/non-torch file
    or a pickle that names a class or function outside the allowed set.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, f"{what} file does not exist")
    default_ok = set(torch.serialization._weights_only_unpickler._get_allowed_globals())  # noqa: SLF001
    numpy_ok = _numpy_globals()
    extra: list[Any] = []
    for name in pickle_globals(path):
        if name in default_ok or name.startswith("torch."):
            continue
        if name in numpy_ok:
            extra += [(obj, full) for full, obj in numpy_ok.items() if full.startswith("numpy.dtypes.")]
            extra.append((numpy_ok[name], name))
        elif _allowed(name):
            extra.append((_stand_in(name), name))
        else:
            raise CheckpointError(path, f"the pickle refers to {name}, which a weights-only {what} may not "
                                        "contain (it would run code); refusing to load it")
    check_checkpoint(path)
    try:
        with torch.serialization.safe_globals(extra):
            return torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(path, f"cannot load {what}: {msg}") from None


class _Dry:
    """What every name a pickle mentions becomes during the size check: it records, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.args = args

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass


class _StorageKind:
    def __init__(self, name: str, itemsize: int):
        self.name, self.itemsize = name, itemsize


class _DeclaredStorage:
    def __init__(self, key: str, nbytes: int, itemsize: int):
        self.key, self.nbytes, self.itemsize = key, nbytes, itemsize


_STORAGE_ITEMSIZE = {"FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2,
                     "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
                     "BoolStorage": 1, "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16, "QUInt8Storage": 1,
                     "QInt8Storage": 1, "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1,
                     "UntypedStorage": 1}


def _storage_itemsize(name: str) -> int | None:
    return _STORAGE_ITEMSIZE.get(name)


class _SizeCheck(pickle.Unpickler):
    """Unpickles with inert stand-ins, collecting declared storages and tensor views."""

    def __init__(self, stream, path: Path):
        super().__init__(stream)
        self.path = path
        self.storages: dict[str, _DeclaredStorage] = {}
        self.view_bytes = 0

    def find_class(self, module: str, name: str) -> Any:
        full = _py3_name(module, name)
        if full in ("torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor"):
            return self._tensor
        if full in ("torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"):
            return lambda data, *a, **k: data
        if full == "torch.Size":
            return tuple
        if full == "collections.OrderedDict":
            return OrderedDict
        if full.startswith("torch.") and full.count(".") == 1:
            itemsize = _storage_itemsize(name)
            if itemsize is not None:
                return _StorageKind(name, itemsize)
        return type(name, (_Dry,), {})

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            return _Dry(pid)
        kind, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(kind, _StorageKind) or not isinstance(numel, int) or numel < 0:
            raise CheckpointError(self.path, f"storage {key} is declared as {kind!r} x {numel!r}")
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _DeclaredStorage(key, numel * kind.itemsize, kind.itemsize)
        return storage

    def _tensor(self, storage: Any, offset: Any, size: Any, stride: Any = None, *rest: Any) -> _Dry:
        if not isinstance(storage, _DeclaredStorage):
            raise CheckpointError(self.path, "a tensor without a storage record")
        size, stride = tuple(size or ()), tuple(stride or ()) if stride is not None else None
        if stride is None:  # legacy _rebuild_tensor: contiguous
            stride = tuple(math.prod(size[i + 1:]) for i in range(len(size)))
        ints = all(isinstance(v, int) and v >= 0 for v in (offset, *size, *stride))
        if not ints or len(size) != len(stride):
            raise CheckpointError(self.path, f"a tensor declares offset {offset!r}, size {size!r}, stride {stride!r}")
        numel = math.prod(size)
        if numel:
            end = (offset + sum((n - 1) * st for n, st in zip(size, stride)) + 1) * storage.itemsize
            if end > storage.nbytes:
                raise CheckpointError(self.path, f"a tensor of shape {list(size)} reaches byte {end} of storage "
                                                 f"{storage.key}, which holds {storage.nbytes} bytes")
        self.view_bytes += numel * storage.itemsize
        return _Dry()


def check_checkpoint(path: str | Path) -> None:
    """Refuse a torch checkpoint whose declared sizes do not fit the file, before torch allocates.

    Storages must fit in the bytes the archive holds for them, tensor views in
    their storages, archive members may not inflate past the file size, and
    the tensors together may not claim more than twice the file (shared views).
    """
    path = Path(path)
    file_size = path.stat().st_size
    with open(path, "rb") as fh:
        zipped = fh.read(4) == b"PK\x03\x04"
    if zipped:
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise CheckpointError(path, f"damaged or truncated checkpoint ({exc})") from None
        with zf:
            infos = zf.infolist()
            inflated = sum(i.file_size for i in infos)
            if inflated > MAX_EXPANSION * file_size + (16 << 20):
                raise CheckpointError(path, f"its members unpack to {inflated} bytes from a {file_size}-byte file "
                                            "(a zip bomb?); refusing to load it")
            pkl = next((i for i in infos if i.filename.endswith("data.pkl") and i.filename.count("/") == 1), None)
            if pkl is None:
                raise CheckpointError(path, "zip file without a data.pkl: not a torch checkpoint")
            if pkl.file_size > MAX_PICKLE_BYTES:
                raise CheckpointError(path, f"its data.pkl is {pkl.file_size} bytes (at most {MAX_PICKLE_BYTES})")
            check = _SizeCheck(io.BytesIO(zf.read(pkl)), path)
            _dry_load(check, path, 1)
            prefix = pkl.filename.rsplit("/", 1)[0]
            records = {i.filename: i.file_size for i in infos}
            for st in check.storages.values():
                have = records.get(f"{prefix}/data/{st.key}")
                if have is None:
                    raise CheckpointError(path, f"storage {st.key} has no data record in the archive")
                if st.nbytes > have:
                    raise CheckpointError(path, f"storage {st.key} declares {st.nbytes} bytes, but the archive "
                                                f"holds {have} bytes for it")
    else:
        with open(path, "rb") as fh:
            check = _SizeCheck(fh, path)
            _dry_load(check, path, 4)  # magic, protocol, sys info, then the object
    declared = sum(st.nbytes for st in check.storages.values())
    if declared > file_size:
        raise CheckpointError(path, f"its storages declare {declared} bytes, more than the whole file "
                                    f"({file_size} bytes)")
    if declared > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(path, f"its tensors declare {declared} bytes (at most {MAX_CHECKPOINT_BYTES})")
    if check.view_bytes > 2 * file_size + (64 << 20):
        raise CheckpointError(path, f"its tensors are views of {check.view_bytes} bytes over {declared} bytes "
                                    "of storage; a checkpoint's tensors do not overlap that much")


def _dry_load(check: _SizeCheck, path: Path, count: int) -> None:
    try:
        for _ in range(count):
            check.load()
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError(path, "its pickle nests too deeply to be a checkpoint") from None
    except Exception as exc:  # truncated or malformed: torch.load reports it in its own words
        if count == 1:
            raise CheckpointError(path, f"not a readable torch checkpoint ({type(exc).__name__}: {exc})") from None


def inert_to_dict(obj: Any, _seen: dict[int, Any] | None = None) -> Any:
    """Plain dicts/lists out of stand-ins (argparse.Namespace, omegaconf DictConfig/ListConfig).

    An object met twice converts once: a pickle's memo can share one list many times over,
    and copying each path through such a graph would grow exponentially."""
    seen = {} if _seen is None else _seen
    if not isinstance(obj, (InertObject, Mapping, list, tuple)):
        return obj
    if id(obj) in seen:
        return seen[id(obj)]
    seen[id(obj)] = None  # a cycle reads as None rather than recursing forever
    if isinstance(obj, InertObject):
        d = obj.__dict__
        if "_content" in d:  # omegaconf container: values are nodes holding `_val`
            out = inert_to_dict(d["_content"], seen)
        elif "_val" in d:
            out = inert_to_dict(d["_val"], seen)
        elif set(d) == {"_args"}:  # an enum member: its value
            args = d["_args"]
            out = inert_to_dict(args[0], seen) if len(args) == 1 else [inert_to_dict(a, seen) for a in args]
        else:
            out = {k: inert_to_dict(v, seen) for k, v in d.items() if not k.startswith("_")}
    elif isinstance(obj, Mapping):
        out = {k: inert_to_dict(v, seen) for k, v in obj.items()}
    else:
        out = [inert_to_dict(v, seen) for v in obj]
    seen[id(obj)] = out
    return out


_WN = re.compile(r"^(.*)\.(weight_g|weight_v|parametrizations\.weight\.original0|parametrizations\.weight\.original1)$")


def fold_weight_norm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace weight-norm pairs (g, v) by the plain weight g * v / |v| they stand for.

    The norm runs over every dim but the one g keeps (g has size 1 elsewhere), so
    this covers dim=0 convs, transposed convs, and HuBERT's dim=2 position conv.
    """
    out: dict[str, torch.Tensor] = {}
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        m = _WN.match(key)
        if m:
            role = "g" if m.group(2) in ("weight_g", "parametrizations.weight.original0") else "v"
            pairs.setdefault(m.group(1), {})[role] = value
        else:
            out[key] = value
    for prefix, gv in pairs.items():
        if set(gv) != {"g", "v"}:
            out.update({f"{prefix}.weight_{r}": t for r, t in gv.items()})  # left for the key check to report
            continue
        g, v = gv["g"].float(), gv["v"].float()
        if g.dim() != v.dim():
            raise CheckpointError("<state>", f"weight norm of {prefix}: g {tuple(g.shape)} does not fit v {tuple(v.shape)}")
        dims = [d for d in range(v.dim()) if g.shape[d] == 1]
        norm = torch.linalg.vector_norm(v, dim=dims, keepdim=True) if dims else v.abs()
        out[prefix + ".weight"] = g * v / norm.clamp_min(1e-12)
    return out


def split_weight_norm(weight: torch.Tensor, dim: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(g, v) with g * v / |v| == weight: how a weight-normed layer stores it (for writing test checkpoints)."""
    dims = [d for d in range(weight.dim()) if d != dim]
    return torch.linalg.vector_norm(weight, dim=dims, keepdim=True), weight.clone()


def load_into(module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str | Path,
              ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Copy a checkpoint's tensors into `module`, reporting missing keys and shape mismatches by name."""
    state = fold_weight_norm(state)
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise CheckpointError(path, f"missing weights {', '.join(missing[:5])}{more}")
    for key, target in own.items():
        src = state[key]
        if not isinstance(src, torch.Tensor):
            raise CheckpointError(path, f"weight {key} is a {type(src).__name__}, not a tensor")
        if tuple(src.shape) != tuple(target.shape):
            raise CheckpointError(path, f"weight {key} has shape {tuple(src.shape)}, the model's config "
                                        f"needs {tuple(target.shape)}")
    unexpected = [k for k in state if k not in own and not k.startswith(ignore_prefixes)]
    if unexpected:
        more = f" (and {len(unexpected) - 5} more)" if len(unexpected) > 5 else ""
        raise CheckpointError(path, f"unexpected weights {', '.join(unexpected[:5])}{more}: "
                                    "the file does not match this architecture")
    with torch.no_grad():
        for key, target in own.items():
            target.copy_(state[key].to(target.dtype))
