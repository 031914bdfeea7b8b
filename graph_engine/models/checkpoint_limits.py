"""Checking a torch checkpoint's declared sizes before anything is allocated.

Before torch allocates anything, `check_checkpoint` reads the archive's sizes and walks the pickle with
inert stand-ins for every name: a storage declared larger than the bytes the file holds for it, a tensor
view reaching past its storage, members that inflate far beyond the file (a zip bomb), or a pickle that
builds millions of objects are refused with the figures. It lives with the model manager because both the
install-time detection and the adapters' loaders (haysay.nodes.vc.safe_load) open untrusted files.
"""
from __future__ import annotations

import io
import math
import pickle
import zipfile
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections import OrderedDict
from pathlib import Path
from typing import Any

MAX_PICKLE_BYTES = 64 << 20        # a model's data.pkl is kilobytes; its weights live in separate records
MAX_PICKLE_OBJECTS = 2_000_000     # containers and calls the pickle may build (real ones: a few thousand)
MAX_EXPANSION = 1.5                # torch writes records stored; deflated ones barely shrink float weights
MAX_CHECKPOINT_BYTES = 16 << 30    # declared tensor bytes, whatever the file size
MAX_CONFIG_BYTES = 1 << 20         # a model's config.json / YAML is a few kilobytes
_BUILDING_OPS = {"EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE", "EMPTY_SET", "DICT", "LIST", "TUPLE", "TUPLE1",
                 "TUPLE2", "TUPLE3", "FROZENSET", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "OBJ", "INST", "BUILD"}


class CheckpointError(ValueError):
    """A model file that cannot be used: wrong format, missing keys, shapes that do not fit, unsafe pickle."""

    def __init__(self, path: str | Path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{self.path}: {problem}")


def read_config_text(path: str | Path, missing: str) -> str:
    """A model's config file as text: refused as `missing` when absent, and when too large or not UTF-8,
    before a parser sees it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, missing)
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(path, f"{path.stat().st_size} bytes is far too large for a config")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(path, f"not a text config ({exc})") from None


def read_yaml_config(path: str | Path, missing: str, not_mapping: str = "expected a YAML mapping") -> dict:
    """A model's YAML config (read_config_text's checks, then yaml.safe_load: plain data only) as a mapping;
    CheckpointError when it is not valid YAML or not a mapping (`not_mapping`)."""
    import yaml

    path = Path(path)
    text = read_config_text(path, missing)
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CheckpointError(path, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(path, not_mapping)
    return obj


def _py3_name(module: str, name: str) -> str:
    # Protocol-2 pickles use Python 2 names (__builtin__.dict); resolve them as the unpickler will.
    if (module, name) in NAME_MAPPING:
        module, name = NAME_MAPPING[(module, name)]
    elif module in IMPORT_MAPPING:
        module = IMPORT_MAPPING[module]
    return f"{module}.{name}"


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
