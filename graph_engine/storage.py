"""Storage lifecycle: how big the artifact cache, models and history are, and pruning under a budget.

    st = Storage()
    st.usage()                         # sizes by age bucket and by pipeline, models, history
    st.pin("run-id-or-cache-key")      # never pruned
    st.prune(dry_run=True)             # what would go, and why the rest stays

Settings come from HAYSAY_HOME/storage.json, overridden by the environment:
HAYSAY_STORAGE_BUDGET (bytes, or 500M / 20G), HAYSAY_KEEP_RUNS, HAYSAY_KEEP_DAYS.

Pruning deletes artifacts no run refers to and artifacts past retention
(not used by the last `keep_runs` runs nor within `keep_days`), oldest use
first, until the cache is under budget (all of them when no budget is set).
It never deletes: pinned artifacts (or those of a pinned run), anything in a
running job's plan or a running run's graph, an artifact younger than
`grace_s` (a run may not have recorded it yet), or the target of an alias
that stays. The store's delete removes the completion marker first, so a
concurrent reader sees an artifact either whole or missing, never half.
A tmp folder goes only once its writer is gone (its lease, see liveness.py),
never by age: a stage that writes for hours keeps its folder.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from .config import Settings
from .executor import store_for
from .history import History
from .liveness import process_alive
from .store import ArtifactMissing, ArtifactStore

UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3,
         "t": 1024**4, "tb": 1024**4}
AGE_BUCKETS = ((86400.0, "< 1 day"), (7 * 86400.0, "1-7 days"), (30 * 86400.0, "7-30 days"), (float("inf"), "> 30 days"))
SETTINGS_FILE, PINS_FILE = "storage.json", "pins.json"


def parse_size(text: str | int | float | None, what: str = "budget") -> int | None:
    """'20G', '500 MB', '1048576' -> bytes (binary units); None or '' -> None."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)):
        return int(text)
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in UNITS:
        raise ValueError(f"{what}: {text!r} is not a size (e.g. 500M, 20G or a number of bytes)")
    return int(float(m.group(1)) * UNITS[m.group(2).lower()])


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


@dataclass
class StorageSettings:
    budget_bytes: int | None = None
    keep_runs: int | None = 20
    keep_days: float | None = 7.0
    grace_s: float = 600.0

    @classmethod
    def load(cls, home: str | os.PathLike) -> "StorageSettings":
        path = Path(home) / SETTINGS_FILE
        data: dict[str, Any] = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ValueError(f"{path}: not valid JSON ({exc})") from None
            unknown = set(data) - {f for f in cls.__dataclass_fields__}
            if unknown:
                raise ValueError(f"{path}: unknown setting(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        env = {"budget_bytes": "HAYSAY_STORAGE_BUDGET", "keep_runs": "HAYSAY_KEEP_RUNS", "keep_days": "HAYSAY_KEEP_DAYS"}
        for name, var in env.items():
            if os.environ.get(var, "") != "":
                data[name] = os.environ[var]
        try:
            s = cls(budget_bytes=parse_size(data.get("budget_bytes"), "budget_bytes (HAYSAY_STORAGE_BUDGET)"),
                    keep_runs=_opt(data, "keep_runs", int, cls.keep_runs),
                    keep_days=_opt(data, "keep_days", float, cls.keep_days),
                    grace_s=float(data.get("grace_s", cls.grace_s)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"storage settings: {exc}") from None
        for name in ("budget_bytes", "keep_runs", "keep_days", "grace_s"):
            value = getattr(s, name)
            if value is not None and value < 0:
                raise ValueError(f"storage settings: {name} must not be negative, got {value}")
        return s

    def save(self, home: str | os.PathLike) -> Path:
        path = Path(home) / SETTINGS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        return path


def _opt(data: dict, name: str, kind: type, default):
    value = data.get(name, default)
    if value in (None, "", "none", "None"):
        return None
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name} must be a {kind.__name__} (or none), got {value!r}") from None


@dataclass
class ArtifactInfo:
    key: str
    size: int
    created: float
    last_used: float | None  # latest run that computed or reused it (history); None: no run refers to it
    run_id: str | None
    pipeline: str | None
    node_type: str | None
    aliases: list[str] = field(default_factory=list)  # artifacts its ports point into


@dataclass
class PrunePlan:
    total_bytes: int
    budget_bytes: int | None
    delete: list[tuple[str, int, str]] = field(default_factory=list)  # (key, bytes, reason)
    kept: dict[str, str] = field(default_factory=dict)  # key -> why it may not go
    deleted: list[str] = field(default_factory=list)
    tmp_removed: int = 0

    @property
    def freed_bytes(self) -> int:
        return sum(size for _, size, _ in self.delete)

    @property
    def after_bytes(self) -> int:
        return self.total_bytes - self.freed_bytes

    def to_dict(self) -> dict[str, Any]:
        return {"total_bytes": self.total_bytes, "budget_bytes": self.budget_bytes, "after_bytes": self.after_bytes,
                "delete": [{"key": k, "bytes": s, "reason": r} for k, s, r in self.delete], "kept": self.kept,
                "deleted": self.deleted, "tmp_removed": self.tmp_removed}


def _epoch(t: datetime | None) -> float | None:
    return t.replace(tzinfo=timezone.utc).timestamp() if t else None


class Storage:
    def __init__(self, settings: Settings | None = None, store: ArtifactStore | None = None,
                 history: History | None = None, lifecycle: StorageSettings | None = None):
        self.settings = settings or Settings.from_env()
        self.store = store or store_for(self.settings.artifacts)
        self._history = history
        self.lifecycle = lifecycle or StorageSettings.load(self.settings.home)
        self.pins_path = self.settings.home / PINS_FILE

    @property
    def history(self) -> History:
        if self._history is None:
            self._history = History(self.settings.history_path)
        return self._history

    # -- what is there -----------------------------------------------------------------
    def artifacts(self) -> list[ArtifactInfo]:
        used = self._last_used()
        names = self._pipeline_names()
        out = []
        for key in self.store.keys():
            try:
                attrs = self.store.attrs(key)
                size = self.store.size(key)
            except (ArtifactMissing, FileNotFoundError):
                continue  # deleted meanwhile
            ports = attrs.get("ports") or {}
            run_id = attrs.get("run_id")
            out.append(ArtifactInfo(key, size, float(attrs.get("created") or 0.0), used.get(key), run_id,
                                    names.get(run_id), attrs.get("node_type"),
                                    [p["key"] for p in ports.values() if isinstance(p, dict) and p.get("type") == "alias"]))
        return out

    def _last_used(self) -> dict[str, float]:
        with self.history.connect() as con:
            rows = con.execute("SELECT s.cache_key, max(coalesce(s.ended_at, r.started_at)) FROM stages s "
                               "JOIN runs r USING (run_id) WHERE s.status IN ('done', 'cached') "
                               "GROUP BY s.cache_key").fetchall()
        return {k: _epoch(t) for k, t in rows if t is not None}

    def _pipeline_names(self) -> dict[str, str]:
        with self.history.connect() as con:
            return dict(con.execute("SELECT run_id, coalesce(pipeline_name, '(unnamed)') FROM runs").fetchall())

    def usage(self, now: float | None = None) -> dict[str, Any]:
        """Bytes of artifacts (by age bucket and by pipeline), models, history and tmp leftovers."""
        now = now or time.time()
        arts = self.artifacts()
        by_age = {label: 0 for _, label in AGE_BUCKETS}
        by_pipeline: dict[str, int] = {}
        for a in arts:
            age = now - a.created
            by_age[next(label for limit, label in AGE_BUCKETS if age < limit)] += a.size
            name = a.pipeline or "(no run recorded)"
            by_pipeline[name] = by_pipeline.get(name, 0) + a.size
        hist = sum(p.stat().st_size for p in self.settings.history_path.parent.glob(self.settings.history_path.name + "*")
                   if p.is_file())
        return {"artifacts": {"count": len(arts), "bytes": sum(a.size for a in arts), "by_age": by_age,
                              "by_pipeline": dict(sorted(by_pipeline.items(), key=lambda kv: -kv[1]))},
                "tmp_bytes": _du(self.store, "tmp"), "models_bytes": _dir_size(self.settings.models_dir),
                "history_bytes": hist, "budget_bytes": self.lifecycle.budget_bytes,
                "keep_runs": self.lifecycle.keep_runs, "keep_days": self.lifecycle.keep_days}

    # -- pins --------------------------------------------------------------------------
    def pins(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self.pins_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"runs": [], "keys": []}
        except ValueError as exc:
            raise ValueError(f"{self.pins_path}: not valid JSON ({exc}); fix or delete it") from None
        return {"runs": list(data.get("runs", [])), "keys": list(data.get("keys", []))}

    def pin(self, target: str) -> tuple[str, str]:
        """Pin a run (all its artifacts) or one artifact by cache key; prefixes work. Returns (kind, id)."""
        kind, ident = self._resolve(target)
        pins = self.pins()
        if ident not in pins[kind]:
            pins[kind].append(ident)
        self._save_pins(pins)
        return kind, ident

    def unpin(self, target: str) -> tuple[str, str]:
        pins = self.pins()
        for kind in ("runs", "keys"):
            for ident in pins[kind]:
                if ident == target or (len(target) >= 4 and ident.startswith(target)):
                    pins[kind].remove(ident)
                    self._save_pins(pins)
                    return kind, ident
        raise KeyError(f"{target!r} is not pinned (pinned: {len(pins['runs'])} run(s), {len(pins['keys'])} artifact(s))")

    def _resolve(self, target: str) -> tuple[str, str]:
        target = target.strip()
        if len(target) < 4 or not re.fullmatch(r"[0-9a-fA-F]+", target):
            raise KeyError(f"{target!r} is neither a run id nor a cache key (hex, at least 4 characters)")
        keys = [k for k in self.store.keys() if k.startswith(target)]
        if len(keys) == 1 and (len(target) >= 8 or keys[0] == target):
            return "keys", keys[0]
        run = self.history.run(target)
        if run is not None:
            return "runs", run.run_id
        if len(keys) > 1:
            raise KeyError(f"{target!r} matches {len(keys)} artifacts; give more of the key")
        raise KeyError(f"no run or artifact {target!r} (see `haysay history` and `haysay storage`)")

    def _save_pins(self, pins: dict[str, list[str]]) -> None:
        self.pins_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.pins_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(pins, indent=2), encoding="utf-8")
        os.replace(tmp, self.pins_path)

    # -- what must stay ----------------------------------------------------------------
    def protected(self, extra: Iterable[str] = ()) -> dict[str, str]:
        """Keys that may not be pruned now, with the reason."""
        out: dict[str, str] = {k: "in use by a running job" for k in extra}
        for k in self._running_keys():
            out.setdefault(k, "in use by a running job or run")
        pins = self.pins()
        for k in pins["keys"]:
            out.setdefault(k, "pinned")
        if pins["runs"]:
            with self.history.connect() as con:
                rows = con.execute(f"SELECT DISTINCT cache_key, run_id FROM stages WHERE run_id IN "
                                   f"({', '.join('?' * len(pins['runs']))})", pins["runs"]).fetchall()
            for k, run_id in rows:
                out.setdefault(k, f"pinned run {run_id[:12]}")
        return out

    def _running_keys(self, stale_s: float = 86400.0) -> set[str]:
        """Every key in the plan of a job or run marked running (a run whose process is gone does not
        count; one of another host stops counting after a day)."""
        keys: set[str] = set()
        with self.history.connect() as con:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if "jobs" in tables:
                for (kj,) in con.execute("SELECT keys_json FROM jobs WHERE state = 'running'").fetchall():
                    keys.update(json.loads(kj or "[]"))
            runs = con.execute("SELECT pipeline_json, inputs_json, overrides_json, started_at, pid, host FROM runs "
                               "WHERE status = 'running'").fetchall()
        for pj, ij, oj, started, pid, host in runs:
            if process_alive(pid, host) is False:  # killed: its run protects nothing
                continue
            if started is not None and time.time() - _epoch(started) > stale_s:
                continue
            keys.update(_plan_keys(pj, ij, oj))
        return keys

    def _retained(self, arts: list[ArtifactInfo], now: float) -> dict[str, str]:
        out: dict[str, str] = {}
        lc = self.lifecycle
        if lc.keep_runs:
            with self.history.connect() as con:
                rows = con.execute("SELECT DISTINCT s.cache_key FROM stages s WHERE s.status IN ('done', 'cached') "
                                   "AND s.run_id IN (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT ?)",
                                   [lc.keep_runs]).fetchall()
            out.update({k: f"used by the last {lc.keep_runs} runs" for (k,) in rows})
        if lc.keep_days is not None:
            for a in arts:
                if a.last_used is not None and now - a.last_used < lc.keep_days * 86400:
                    out.setdefault(a.key, f"used within {lc.keep_days:g} days")
        return out

    # -- pruning -----------------------------------------------------------------------
    def plan_prune(self, budget: int | None = None, extra_protected: Iterable[str] = (),
                   now: float | None = None) -> PrunePlan:
        """Decide what a prune would delete (oldest use first) and why everything else stays."""
        now = now or time.time()
        budget = self.lifecycle.budget_bytes if budget is None else budget
        arts = self.artifacts()
        plan = PrunePlan(sum(a.size for a in arts), budget)
        kept = self.protected(extra_protected)
        for a in arts:
            if a.key not in kept and now - a.created < self.lifecycle.grace_s:
                kept[a.key] = f"younger than the {self.lifecycle.grace_s:g} s grace period"
        for k, why in self._retained(arts, now).items():
            kept.setdefault(k, why)
        candidates = sorted((a for a in arts if a.key not in kept),
                            key=lambda a: (a.last_used if a.last_used is not None else a.created, a.key))
        chosen: dict[str, tuple[int, str]] = {}
        total = plan.total_bytes
        for a in candidates:
            if budget is not None and total <= budget:
                break
            chosen[a.key] = (a.size, "unreferenced (no run used it)" if a.last_used is None else "expired")
            total -= a.size
        by_key = {a.key: a for a in arts}
        changed = True
        while changed:  # an artifact that stays keeps the artifacts its aliases point into
            changed = False
            for a in arts:
                if a.key in chosen:
                    continue
                for target in a.aliases:
                    if target in chosen:
                        del chosen[target]
                        kept[target] = f"aliased by {a.key[:12]}, which stays"
                        changed = True
        plan.delete = [(k, size, why) for k, (size, why) in chosen.items()]
        plan.delete.sort(key=lambda d: ((by_key[d[0]].last_used or by_key[d[0]].created), d[0]))
        plan.kept = {k: v for k, v in kept.items() if k in by_key}
        return plan

    def prune(self, dry_run: bool = False, budget: int | None = None,
              running_keys: Callable[[], Iterable[str]] | None = None, now: float | None = None) -> PrunePlan:
        """Plan, then delete (unless dry_run). `running_keys` is asked again right before deleting,
        so a job that started meanwhile still keeps what it needs."""
        extra = set(running_keys()) if running_keys else set()
        plan = self.plan_prune(budget, extra, now)
        if dry_run:
            return plan
        still = (set(running_keys()) if running_keys else set()) | self._running_keys()
        for key, size, why in list(plan.delete):
            if key in still:
                plan.delete.remove((key, size, why))
                plan.kept[key] = "in use by a job that started during the prune"
                continue
            self.store.delete(key)
            plan.deleted.append(key)
        plan.tmp_removed = self.store.clean_tmp()
        return plan


def _plan_keys(pipeline_json: str, inputs_json: str | None, overrides_json: str | None) -> set[str]:
    """Cache keys of a recorded run's graph (so a run in another process keeps its artifacts)."""
    from .cachekey import cache_key
    from .graph import plan
    from .pipeline import parse_pipeline
    try:
        doc = parse_pipeline(pipeline_json)
        p = plan(doc, None, json.loads(inputs_json or "{}"), [tuple(o) for o in json.loads(overrides_json or "[]")],
                 check_files=False)
        keys: dict[str, str] = {}
        for nid in p.order():
            if p.params(nid) is None:
                return set()
            ups = {port: (keys[src], sp) for port, (src, sp) in p.upstream(nid).items()}
            keys[nid] = cache_key(p.spec(nid), p.params(nid), ups)
        return set(keys.values())
    except Exception:  # a run of a pipeline this install cannot plan keeps nothing
        return set()


def _du(store: ArtifactStore, sub: str) -> int:
    try:
        return int(store.fs.du(store.base.rstrip("/") + "/" + sub))
    except (FileNotFoundError, OSError):
        return 0


def _dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total
