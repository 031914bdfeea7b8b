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
import pickletools
import re
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch


from haysay.graph_engine.models.checkpoint_limits import (  # noqa: F401  (re-exported)
    _BUILDING_OPS, MAX_CHECKPOINT_BYTES, MAX_EXPANSION, MAX_PICKLE_BYTES, MAX_PICKLE_OBJECTS, CheckpointError,
    _py3_name, check_checkpoint)


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
_INERT_CLASSES = {"utils.HParams"}  # GPT-SoVITS pickles its training hparams into SoVITS .pth files
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
    return name.startswith(_INERT_MODULES) or name in _INERT_BUILTINS or name in _INERT_CLASSES


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


def check_state(module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str | Path,
                ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Raise CheckpointError unless `state` (weight-norm folded) has exactly `module`'s keys and shapes.
    `module` may live on the meta device: only shapes are read."""
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


def load_into(module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str | Path,
              ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Copy a checkpoint's tensors into `module`, reporting missing keys and shape mismatches by name."""
    state = fold_weight_norm(state)
    check_state(module, state, path, ignore_prefixes)
    with torch.no_grad():
        for key, target in module.state_dict().items():
            target.copy_(state[key].to(target.dtype))


def build_checked(factory: Callable[[], torch.nn.Module], state: Mapping[str, torch.Tensor], path: str | Path,
                  ignore_prefixes: tuple[str, ...] = ()) -> torch.nn.Module:
    """Build the network a checkpoint's config describes and load its weights, refusing before any real
    allocation when the config does not match the weights: the config is untrusted too, and sizes read
    from it alone could ask for gigabytes. The network is first built on the meta device (no memory)."""
    folded = fold_weight_norm(state)  # folding it again in load_into is a no-op
    with torch.device("meta"):
        probe = factory()
    check_state(probe, folded, path, ignore_prefixes)
    del probe
    module = factory()
    load_into(module, folded, path, ignore_prefixes)
    return module
