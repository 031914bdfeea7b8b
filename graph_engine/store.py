"""The artifact store: every stage's outputs as a zarr group, keyed by cache key.

Layout under the root (a local path or any fsspec URL zarr accepts):

    objects/ab/abcdef.../          one zarr group per stage output set
    objects/ab/abcdef.../_COMPLETE  written last: the size and CRC-32 of every file of the group
    tmp/<key>-<uuid>/               where a stage writes before it is moved into place
    tmp/<key>-<uuid>.lease          held by that folder's live writer (see liveness.py)

On an object store (s3://, gs://, ...) nothing is moved: a rename there is a copy of every
object, and a recursive move of a pseudo-folder is not atomic. A writer fills a generation of
its own, objects/ab/<key>/g-<uuid>/, and publishes the marker last, naming that generation;
readers open only the generation a marker names, so a half-written one is never seen.

Audio is chunked along time so readers and writers stream it block by block.
A crash mid-write leaves only a tmp folder, never a half artifact that reads as valid; a tmp
folder is swept only once its writer is gone, never while a long stage still fills it.
Sizes and checksums are taken as zarr hands each file to the store, so recording them costs
no second read; `verify()` checks them before a stored artifact counts as a cache hit.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import time
import uuid
import zlib
from typing import Any, Iterable

import fsspec
import numpy as np
from .contract import AudioSink
from .liveness import SUFFIX as LEASE, Lease, abandoned
from .values import Audio, F0, Features, Metrics, PortType

CHUNK_FRAMES = 1 << 18
MARKER = "_COMPLETE"
MARKER_FORMAT = "haysay.artifact/2"


class ArtifactMissing(KeyError):
    pass


class ArtifactIncomplete(RuntimeError):
    """A stage's files are not all there (or not what was written) when it is moved into place."""


@functools.cache
def _recording_store_class():
    """zarr is imported on first write: commands that only validate or read history never pay for it."""
    import zarr

    class _RecordingStore(zarr.storage.WrapperStore):
        """Notes the size and CRC-32 of each file as zarr writes it: {key: [bytes, crc]}."""

        def __init__(self, store, manifest: dict[str, list[int]]):
            super().__init__(store)
            self.manifest = manifest

        def _with_store(self, store) -> "_RecordingStore":
            return type(self)(store, self.manifest)

        async def set(self, key: str, value) -> None:
            await self._store.set(key, value)
            data = value.as_numpy_array()
            self.manifest[key] = [int(data.nbytes), zlib.crc32(data)]

        async def set_if_not_exists(self, key: str, value) -> None:
            if not await self._store.exists(key):
                await self.set(key, value)

        async def _set_many(self, values: Iterable[tuple[str, Any]]) -> None:
            for key, value in values:
                await self.set(key, value)

        async def delete(self, key: str) -> None:
            await self._store.delete(key)
            self.manifest.pop(key, None)

        async def delete_dir(self, prefix: str) -> None:
            await self._store.delete_dir(prefix)
            prefix = prefix.rstrip("/")
            for key in [k for k in self.manifest if not prefix or k == prefix or k.startswith(prefix + "/")]:
                del self.manifest[key]

        async def clear(self) -> None:
            await self._store.clear()
            self.manifest.clear()

    return _RecordingStore


KEEP_SAMPLES = 1 << 20  # a streamed output up to this many samples is also kept in memory for its readers


class ZarrAudioSink(AudioSink):
    """Appends blocks to a (channels, frames) zarr array, one whole chunk at a time.

    The array is made when the first whole chunk is due; output that ends shorter than a chunk is
    stored as one chunk of its own length (zarr would pad a partial chunk to full size and compress
    that). Up to `keep` samples of what was written are also kept in memory (`kept()`), for the
    stages of the same run that read it next."""

    def __init__(self, group: zarr.Group, port: str, sample_rate: int, channels: int, keep: int = 0):
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        self.group, self.port = group, port
        self.array: zarr.Array | None = None
        self.pending: list[np.ndarray] = []
        self.pending_frames = 0
        self._keep = keep
        self._kept: list[np.ndarray] | None = [] if keep > 0 else None
        self._kept_samples = 0

    def _create(self, data: np.ndarray | None) -> None:
        attrs = {"haysay_type": PortType.AUDIO.value, "sample_rate": self.sample_rate}
        if data is None:
            self.array = self.group.create_array(self.port, shape=(self.channels, 0), overwrite=True, dtype="float32",
                                                 chunks=(self.channels, CHUNK_FRAMES), attributes=attrs)
        else:
            self.array = self.group.create_array(self.port, data=data, overwrite=True, attributes=attrs,
                                                 chunks=(self.channels, max(1, data.shape[1])))

    def write(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32)
        if block.ndim == 1:
            block = block[None, :]
        if block.shape[0] != self.channels:
            raise ValueError(f"block has {block.shape[0]} channels, sink expects {self.channels}")
        self.pending.append(block)
        self.pending_frames += block.shape[1]
        if self._kept is not None:
            self._kept_samples += block.size
            if self._kept_samples > self._keep:
                self._kept = None  # too long to keep: readers open the stored array
            else:
                self._kept.append(block)
        if self.pending_frames >= CHUNK_FRAMES:
            self._drain(final=False)

    def _drain(self, final: bool) -> None:
        if self.array is None and final:  # shorter than a chunk all along: one chunk of its length
            data = np.concatenate(self.pending, axis=1) if self.pending else None
            if data is not None and data.shape[1] == 0:
                data = None
            self._create(data)
            self.pending, self.pending_frames = [], 0
            return
        if not self.pending:
            return
        if self.array is None:
            self._create(None)
        data = np.concatenate(self.pending, axis=1)
        cut = data.shape[1] if final else (data.shape[1] // CHUNK_FRAMES) * CHUNK_FRAMES
        if cut:
            self.array.append(data[:, :cut], axis=1)
        rest = data[:, cut:]
        self.pending = [rest] if rest.shape[1] else []
        self.pending_frames = rest.shape[1]

    def finish(self) -> Audio:
        self._drain(final=True)
        return Audio(self.array, self.sample_rate)

    def kept(self) -> Audio | None:
        """What was written, in memory, when it was short enough to keep."""
        if self._kept is None:
            return None
        data = np.concatenate(self._kept, axis=1) if self._kept else np.zeros((self.channels, 0), np.float32)
        return Audio(data, self.sample_rate)


class ArtifactWriter:
    """One stage's outputs being written into a tmp group; `commit()` moves them into place."""

    def __init__(self, store: "ArtifactStore", key: str):
        self.store, self.key = store, key
        tag = uuid.uuid4().hex[:8]
        self.lease_path = store._join("tmp", f"{key}-{tag}") + LEASE
        # locally a tmp folder renamed into place; remotely the generation the marker will name
        self.tmp_path = store._join("tmp", f"{key}-{tag}") if store.moves else store._generation(key, tag)
        self._group: zarr.Group | None = None  # made on first need: each zarr call costs a round trip
        self.sinks: dict[str, ZarrAudioSink] = {}
        self.manifest: dict[str, list[int]] = {}
        self._lease: Lease | None = None

    def _zarr_store(self):
        if self._lease is None:  # before the folder exists, so no sweeper ever sees it unleased
            self._lease = Lease.take(self.store.fs, self.lease_path, self.store.local)
        return _recording_store_class()(self.store._zarr_store(self.tmp_path), self.manifest)

    @property
    def group(self) -> zarr.Group:
        if self._group is None:
            import zarr

            self._group = zarr.open_group(self._zarr_store(), mode="w")
        return self._group

    def audio_sink(self, port: str, sample_rate: int, channels: int) -> ZarrAudioSink:
        sink = ZarrAudioSink(self.group, port, sample_rate, channels, keep=KEEP_SAMPLES)
        self.sinks[port] = sink
        return sink

    def commit(self, outputs: dict[str, Any], attrs: dict[str, Any], aliases: dict[str, tuple[str, str]] | None = None,
               replace: bool = False, refresh: bool = False) -> bool:
        """Store the outputs under the key; `replace` swaps out an artifact already there.

        `refresh` (a forced recompute, --no-cache) swaps it only when the content is the same: an
        artifact is never changed in place, since players, A/B slots and history rows refer to it by
        key. Returns False when the artifact already there was kept instead of the new outputs."""
        ports = {port: {"type": "alias", "key": aliases[port][0], "port": aliases[port][1]}
                 if aliases and port in aliases else self._describe(value) for port, value in outputs.items()}
        meta = {**attrs, "ports": ports, "created": time.time()}
        try:
            if self._group is None:  # nothing streamed: the group is born with its attributes
                import zarr

                self._group = zarr.create_group(self._zarr_store(), attributes=meta)
            else:
                self._group.update_attributes(meta)
            for port, value in outputs.items():
                if not (aliases and port in aliases):
                    self._write(port, value)
            if refresh and not replace:
                replace = self.store._same_content(self.key, meta["ports"], self.manifest)
                if not replace and self.store.verify(self.key):
                    self.store._remove(self.tmp_path)
                    return False
            self.store._finalize(self.tmp_path, self.key, self.manifest, replace)
            return True
        finally:
            self._release()

    def abort(self) -> None:
        self.store._remove(self.tmp_path)
        self._release()

    def _release(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    @staticmethod
    def _describe(value: Any) -> dict[str, Any]:
        if isinstance(value, Audio):
            return {"type": PortType.AUDIO.value, "sample_rate": value.sample_rate}
        if isinstance(value, str):
            return {"type": PortType.TEXT.value, "value": value}
        if isinstance(value, F0):
            return {"type": PortType.F0.value}
        if isinstance(value, Features):
            return {"type": PortType.FEATURES.value, "frame_rate": value.frame_rate}
        if isinstance(value, Metrics):  # small: kept whole in the group's attributes
            return {"type": PortType.METRICS.value, "value": value.to_dict()}
        if isinstance(value, np.ndarray):
            return {"type": "ndarray"}
        json.dumps(value)  # anything else must be plain JSON data
        return {"type": "json", "value": value}

    def _write(self, port: str, value: Any) -> None:
        if isinstance(value, Audio):
            sink = self.sinks.get(port)
            if sink is not None and value.data is sink.array:
                return  # streamed here already
            if value.in_memory:
                # a short array is one chunk of its own length: zarr pads (and compresses) a partial chunk
                # to full size, which for a short stage output was most of its write time
                frames = min(CHUNK_FRAMES, max(1, value.frames))
                self.group.create_array(port, data=value.data, chunks=(value.channels, frames), overwrite=True,
                                        attributes={"haysay_type": PortType.AUDIO.value, "sample_rate": value.sample_rate})
                return
            sink = self.audio_sink(port, value.sample_rate, value.channels)
            for block in value.blocks(CHUNK_FRAMES):
                sink.write(block)
            sink.finish()
        elif isinstance(value, F0):
            self.group.create_array(port, data=np.stack([value.times, value.hz, value.confidence]), overwrite=True)
        elif isinstance(value, Features):
            self.group.create_array(port, data=value.data, overwrite=True)
        elif isinstance(value, np.ndarray):
            self.group.create_array(port, data=value, overwrite=True)


class ArtifactStore:
    def __init__(self, root: str | os.PathLike, storage_options: dict[str, Any] | None = None):
        from .config import storage_options as configured

        self.root = str(root)
        self.options = configured(self.root) if storage_options is None else dict(storage_options)
        self.fs, self.base = fsspec.core.url_to_fs(self.root, **self.options)
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        # where a folder moves in one cheap step (a local disk; memory:// in tests); object stores
        # copy every object on a "move", so there a marker publishes a generation instead
        self.moves = self.local or "memory" in (self.fs.protocol if isinstance(self.fs.protocol, tuple)
                                                else (self.fs.protocol,))
        self._afs = None  # the filesystem zarr drives from its own event loop (remote stores)
        self._verified: dict[str, tuple] = {}  # key -> (marker, file stamps) last verified
        if self.local:
            os.makedirs(self.base, exist_ok=True)

    def _join(self, *parts: str) -> str:
        return "/".join([self.base.rstrip("/"), *parts])

    def _object_path(self, key: str) -> str:
        if len(key) < 8 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self._join("objects", key[:2], key)

    def _generation(self, key: str, tag: str) -> str:
        return self._object_path(key) + f"/g-{tag}"

    def _zarr_store(self, path: str):
        import zarr

        if self.local:
            return zarr.storage.LocalStore(path)
        if self._afs is None:
            self._afs = _async_fs(self.fs, self.root, self.options)
        return zarr.storage.FsspecStore(self._afs, path=path)

    def _read_marker(self, key: str) -> tuple[bytes, dict] | None:
        try:
            with self.fs.open(self._object_path(key) + "/" + MARKER, "rb") as f:
                text = f.read()
        except (FileNotFoundError, OSError):
            return None
        try:
            marker = json.loads(text)
        except ValueError:
            marker = None
        return text, marker if isinstance(marker, dict) else {}

    def _group_path(self, key: str, marker: dict | None = None) -> str:
        """Where the artifact's zarr group is: its folder, or (object stores) the generation its marker names."""
        path = self._object_path(key)
        if self.moves:
            return path
        if marker is None:
            found = self._read_marker(key)
            if found is None:
                raise ArtifactMissing(key)
            marker = found[1]
        gen = marker.get("dir")
        if gen is not None and not (isinstance(gen, str) and gen.startswith("g-") and "/" not in gen):
            raise ArtifactMissing(key)
        return f"{path}/{gen}" if gen else path

    def exists(self, key: str) -> bool:
        """Whether a completion marker is there (cheap); `verify` says whether the files match it."""
        return self.fs.exists(self._object_path(key) + "/" + MARKER)

    def verify(self, key: str) -> bool:
        """Whether the artifact is complete: every file its marker lists is there with the size and
        CRC-32 it was written with. Anything else (no marker, a marker of an older format, a file
        missing, short or changed) is a cache miss, and the next write replaces the artifact.
        Once checked, a local artifact's bytes are read again only when a file's size, mtime or
        inode changed; a remote one's only when its marker did."""
        found = self._read_marker(key)
        if found is None:
            return False
        text, marker = found
        try:
            path = self._group_path(key, marker)
            # a marker of the older format held only a time: nothing to check the files against
            files = marker["files"] if isinstance(marker, dict) and marker.get("format") == MARKER_FORMAT else None
            if not isinstance(files, dict) or marker.get("count") != len(files):
                return False
            # locally a file's (size, mtime, inode) stand for its bytes once they were checked
            stamp = (text, tuple(_stamp(os.stat(path + "/" + n)) for n in files) if self.local else None)
            if self._verified.get(key) == stamp:
                return True
            for name, data in self._read_all(path, list(files)):
                size, crc = files[name]
                if data is None or len(data) != size or zlib.crc32(data) != crc:
                    return False
        except (FileNotFoundError, OSError, ValueError, TypeError, KeyError):
            return False
        self._verified[key] = stamp
        return True

    def _same_content(self, key: str, ports: dict[str, Any], manifest: dict[str, list[int]]) -> bool:
        """Whether the stored artifact holds these ports and data files (sizes and CRC-32s); the
        group's own metadata (creation time, run id) may differ."""
        try:
            with self.fs.open(self._object_path(key) + "/" + MARKER, "rb") as f:
                files = json.loads(f.read())["files"]
            stored_ports = self.attrs(key).get("ports")
        except (FileNotFoundError, OSError, ValueError, TypeError, KeyError, ArtifactMissing):
            return False
        data = lambda m: {n: list(v) for n, v in m.items() if n != "zarr.json"}  # noqa: E731
        return data(files) == data(manifest) and json.loads(json.dumps(stored_ports)) == json.loads(json.dumps(ports))

    def writer(self, key: str) -> ArtifactWriter:
        return ArtifactWriter(self, key)

    def _finalize(self, tmp_path: str, key: str, manifest: dict[str, list[int]], replace: bool = False) -> None:
        if not self.moves:
            return self._publish(tmp_path, key, manifest, replace)
        final = self._object_path(key)
        if self.exists(key):
            if not replace and self.verify(key):  # another writer won the race; identical content by construction
                self._remove(tmp_path)
                return
            self.delete(key)  # replaced (--no-cache), or found incomplete: never kept
        if self.fs.exists(final):  # leftovers of a crash after the move but before the marker
            self._remove(final)
        self.fs.makedirs(self._join("objects", key[:2]), exist_ok=True)
        if self.local:
            os.replace(tmp_path, final)
        else:
            self.fs.mv(tmp_path, final, recursive=True)
        self._check_written(final, key, manifest)
        with self.fs.open(final + "/" + MARKER, "w") as f:
            f.write(json.dumps(self._marker(manifest), separators=(",", ":")))

    @staticmethod
    def _marker(manifest: dict[str, list[int]], generation: str | None = None) -> dict[str, Any]:
        marker = {"format": MARKER_FORMAT, "created": time.time(), "count": len(manifest),
                  "bytes": sum(size for size, _ in manifest.values()), "files": manifest}
        if generation:
            marker["dir"] = generation
        return marker

    def _check_written(self, path: str, key: str, manifest: dict[str, list[int]]) -> None:
        lost = self._missing(path, manifest)
        if lost:  # e.g. the folder was removed under the writer: fail the stage rather than store holes
            self._remove(path)
            raise ArtifactIncomplete(f"artifact {key[:12]}: {len(lost)} of {len(manifest)} written file(s) "
                                     f"missing or cut short before it was stored (first: {lost[0]})")

    def _publish(self, gen_path: str, key: str, manifest: dict[str, list[int]], replace: bool) -> None:
        """Object stores: the generation is complete once written; the marker (one PUT, atomic there)
        makes it the artifact. The generation a replaced marker named goes after the new one is live."""
        old = self._read_marker(key)
        if old is not None and not replace and self.verify(key):  # another writer won; same content
            self._remove(gen_path)
            return
        self._check_written(gen_path, key, manifest)
        gen = gen_path.rstrip("/").rsplit("/", 1)[-1]
        self.fs.pipe_file(self._object_path(key) + "/" + MARKER,
                          json.dumps(self._marker(manifest, gen), separators=(",", ":")).encode())
        self._verified.pop(key, None)
        stale = (old[1] or {}).get("dir") if old is not None else None
        if isinstance(stale, str) and stale.startswith("g-") and "/" not in stale and stale != gen:
            self._remove(self._object_path(key) + "/" + stale)

    def _read_all(self, path: str, names: list[str]) -> Iterable[tuple[str, bytes | None]]:
        """(name, bytes or None when absent); a remote store fetches them in one batch."""
        if not self.local:
            full = {self.fs._strip_protocol(f"{path}/{n}"): n for n in names}
            found = self.fs.cat(list(full), on_error="omit")
            for k, n in full.items():
                yield n, found.get(k)
            return
        for n in names:
            try:
                with open(f"{path}/{n}", "rb") as f:
                    yield n, f.read()
            except (FileNotFoundError, OSError):
                yield n, None

    def _missing(self, path: str, manifest: dict[str, list[int]]) -> list[str]:
        """Files of the manifest not there with their written size (sizes only: the bytes are fresh)."""
        if self.local:
            def size_of(name: str) -> int | None:
                try:
                    return os.path.getsize(f"{path}/{name}")
                except OSError:
                    return None
        else:  # one listing, not a round trip per chunk
            root = self.fs._strip_protocol(path).rstrip("/") + "/"
            sizes = {k[len(root):]: v.get("size") for k, v in self.fs.find(path, detail=True).items()
                     if k.startswith(root)}
            size_of = sizes.get
        return [name for name, (size, _) in manifest.items() if size_of(name) != size]

    def _remove(self, path: str) -> None:
        if self.local:
            shutil.rmtree(path, ignore_errors=True)
        elif self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def attrs(self, key: str) -> dict[str, Any]:
        if self.moves and not self.exists(key):
            raise ArtifactMissing(key)
        if self.local:  # a zarr v3 group's attributes are its zarr.json's: one small read, no zarr round trip
            try:
                with open(self._group_path(key) + "/zarr.json", "rb") as f:
                    meta = json.loads(f.read())
                if meta.get("zarr_format") == 3 and meta.get("node_type") == "group":
                    return dict(meta.get("attributes") or {})
            except (OSError, ValueError, AttributeError):
                pass  # anything else is read by zarr itself
        import zarr

        group = zarr.open_group(self._zarr_store(self._group_path(key)), mode="r")
        return dict(group.attrs)

    def open(self, key: str) -> dict[str, Any]:
        """{port: value}; Audio comes back lazy (zarr-backed): `.numpy()` or `.blocks()` to read."""
        if self.moves and not self.exists(key):
            raise ArtifactMissing(key)
        import zarr

        group = zarr.open_group(self._zarr_store(self._group_path(key)), mode="r")
        out: dict[str, Any] = {}
        for port, meta in group.attrs.get("ports", {}).items():
            kind = meta["type"]
            if kind == "alias":
                out[port] = self.open(meta["key"])[meta["port"]]
            elif kind == PortType.AUDIO.value:
                out[port] = Audio(group[port], meta["sample_rate"])
            elif kind == PortType.TEXT.value:
                out[port] = meta["value"]
            elif kind == PortType.F0.value:
                t, hz, conf = np.asarray(group[port][:])
                out[port] = F0(t, hz, conf)
            elif kind == PortType.FEATURES.value:
                out[port] = Features(np.asarray(group[port][:]), meta["frame_rate"])
            elif kind == PortType.METRICS.value:
                out[port] = Metrics.from_dict(meta["value"])
            elif kind == "ndarray":
                out[port] = np.asarray(group[port][:])
            else:
                out[port] = meta["value"]
        return out

    def keys(self) -> list[str]:
        found = []
        for prefix in self.fs.glob(self._join("objects", "*")):
            for path in self.fs.glob(prefix.rstrip("/") + "/*"):
                key = path.rstrip("/").rsplit("/", 1)[-1]
                if self.fs.exists(path.rstrip("/") + "/" + MARKER):
                    found.append(key)
        return found

    def size(self, key: str) -> int:
        return int(self.fs.du(self._object_path(key)))

    def delete(self, key: str) -> None:
        """Remove an artifact: the marker goes first, so a reader never sees a half-deleted one as valid."""
        path = self._object_path(key)
        self._verified.pop(key, None)
        if self.fs.exists(path + "/" + MARKER):
            self.fs.rm(path + "/" + MARKER)
        self._remove(path)

    def clean_tmp(self) -> int:
        """Remove the tmp folders of writers that are gone (their lease is free or stale; see
        liveness.py); a live writer's folder stays, however long its stage runs. Returns how many."""
        tmp = self._join("tmp")
        try:
            if self.local:
                names = os.listdir(tmp)
            else:
                names = [p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(tmp, detail=False)]
        except (FileNotFoundError, OSError):
            return 0
        removed = 0
        folders = {n for n in names if not n.endswith(LEASE)}
        leases = {n[:-len(LEASE)] for n in names if n.endswith(LEASE)}
        for name in sorted(folders | leases):
            lease = abandoned(self.fs, f"{tmp}/{name}{LEASE}", self.local)
            if lease is None:
                continue
            try:
                if name in folders:
                    self._remove(f"{tmp}/{name}")
                    removed += 1
                elif not self.moves and self._remove_generation(name):
                    removed += 1
            finally:
                lease.release()
        return removed

    def _remove_generation(self, name: str) -> bool:
        """An object store's unpublished generation of a writer that is gone (its lease is `name`)."""
        key, _, tag = name.rpartition("-")
        try:
            path = self._generation(key, tag)
        except ValueError:
            return False
        found = self._read_marker(key)
        if found is not None and found[1].get("dir") == f"g-{tag}" or not self.fs.exists(path):
            return False  # published after all (its writer died releasing the lease), or never written
        self._remove(path)
        return True


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino


def _async_fs(fs, root: str, options: dict[str, Any]):
    """zarr's FsspecStore wants an async filesystem that lives in zarr's own event loop. An async
    implementation (s3fs, gcsfs) gets an instance of its own made in asynchronous mode: the sync
    instance's sessions belong to fsspec's loop ("attached to a different loop" under zarr).
    Sync implementations are wrapped."""
    if getattr(fs, "async_impl", False):
        afs, _ = fsspec.core.url_to_fs(root, **{**options, "asynchronous": True, "skip_instance_cache": True})
        import atexit
        atexit.register(_close_async, afs)
        return afs
    from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
    return AsyncFileSystemWrapper(fs, asynchronous=True)


def _close_async(afs) -> None:
    """Close an async filesystem's HTTP session in zarr's loop at exit (else aiohttp warns of an
    unclosed session on every exit of a process that used an object store)."""
    creator = getattr(afs, "_s3creator", None)
    if creator is None:
        return
    try:
        from zarr.core.sync import sync
        sync(creator.__aexit__(None, None, None))
    except Exception:  # noqa: BLE001 - best effort at interpreter exit
        pass
