"""Remote stage inputs and outputs: ``s3://``, ``gs://``, ``hf://`` (read-only) and any fsspec URL.

Stages work on local folders. A URL input is downloaded into a cache folder first (streamed in
blocks, a file at a time, under a temporary name; a copy of the same version — same ETag or
checksum — is kept). A URL output has a local working copy: before the run it receives what the store holds
(so a run another machine left unfinished resumes from its completion markers), and after the
run — also a failed or interrupted one — it is published: task outputs first, then their
completion markers, then ``manifest.json``. An object store has no rename, but an object is whole
once it is listed, so a marker is only ever seen after the output it vouches for, and the
manifest says the stage is done. The cache is ``$GPTKIT_CACHE`` or ``~/.cache/gptkit``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from gptkit.errors import InputError, UsageError
from gptkit.io.atomic import atomic_path, atomic_write_json, atomic_write_text, is_temp

READ_ONLY = ("hf",)
LAST = ("completions/", "manifest.json")  # published after everything else, in this order


def is_url(item: str | Path) -> bool:
    return "://" in str(item) and not str(item).startswith("file://")


def cache_dir(url: str) -> Path:
    root = Path(os.environ.get("GPTKIT_CACHE") or Path.home() / ".cache" / "gptkit")
    return root / "remote" / hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]


def _fs(url: str) -> tuple[Any, str]:
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise UsageError(f"{url}: {e}") from None
    fs.invalidate_cache()  # fsspec reuses filesystems and their listings: see the store as it is now
    return fs, root


def fetch_inputs(items: list[str]) -> list[str]:
    """``items`` with every URL replaced by its downloaded copy (a file, or a folder of the files
    a folder URL or glob names, keeping their relative paths)."""
    local = []
    for item in items:
        if not is_url(item):
            local.append(item)
            continue
        fs, root = _fs(item)
        if (first := next((i for i, ch in enumerate(root) if ch in "*?["), None)) is not None:
            files, base = fs.glob(root), root[:first].rsplit("/", 1)[0]
        elif fs.isdir(root):
            files, base = fs.find(root), root
        elif fs.exists(root):
            files, base = [root], root.rsplit("/", 1)[0]
        else:
            raise InputError("no such remote file or folder", item)
        if not files:
            raise InputError("pattern matches no remote file", item)
        dest = cache_dir(item)
        for path in files:
            _cached(fs, path, dest / path[len(base):].lstrip("/"))
        local.append(str(dest / root[len(base):].lstrip("/")) if len(files) == 1 and files[0] == root else str(dest))
    return local


def _cached(fs: Any, path: str, dest: Path) -> None:
    """Copy ``path`` to ``dest`` unless the copy there came from the same version (fsspec's ``ukey``:
    the ETag or checksum, kept in a hidden file beside it)."""
    version = dest.with_name(f".{dest.name}.source")
    key = str(fs.ukey(path))
    if dest.is_file() and version.is_file() and version.read_text(encoding="utf-8") == key:
        return
    _download(fs, path, dest)
    atomic_write_text(version, key)


def _download(fs: Any, path: str, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        fs.get_file(path, str(tmp))


class RemoteOutput:
    """The local working copy of an output URL, pulled before a run and published after it.

    ``local`` is where the copy lives (default: in the cache). Cluster workers keep their copy at
    the path the submitting machine uses (the stage's tasks name it), and each task pulls before
    it runs and publishes after (:func:`gptkit.exec.run_task`); the URL is found there again by
    :func:`published_url`.
    """

    def __init__(self, url: str, local: Path | None = None):
        scheme = url.split("://", 1)[0]
        if scheme in READ_ONLY:
            raise UsageError(f"--out {url}: {scheme}:// is read-only here; write to s3://, gs:// or a folder")
        self.url = url.rstrip("/")
        self.fs, self.root = _fs(self.url)
        self.local = Path(local) if local is not None else cache_dir(self.url) / "out"
        self._ledger = self.local.parent / f"{self.local.name}.published.json"

    def pull(self, under: str = "", manifest: bool = True) -> None:
        """Copy what the store holds (under the folder ``under``) and this copy lacks: a run left
        unfinished elsewhere, or what the tasks on other machines published. A task pulls without
        the manifest: the stage it belongs to has begun, so the store's manifest is an old run's."""
        root = f"{self.root}/{under}".rstrip("/")
        if not self.fs.exists(root):
            return
        for path in self.fs.find(root):
            dest = self.local / path[len(self.root):].lstrip("/")
            if not dest.exists() and (manifest or dest != self.local / LAST[1]):
                _download(self.fs, path, dest)
                self._record({dest.relative_to(self.local).as_posix(): dest})

    def publish(self) -> int:
        """Upload the files that changed since the last publish, markers and manifest last; the count.

        Listed in the opposite order (manifest, markers, the rest): a stage writing here at the same
        time writes an output before the marker or manifest that vouches for it, so whatever
        vouches is listed only with what it vouches for."""
        done = self._published()
        manifest = [self.local / LAST[1]] if (self.local / LAST[1]).is_file() else []
        markers = sorted((self.local / LAST[0]).glob("*")) if (self.local / LAST[0]).is_dir() else []
        rest = sorted(f for f in self.local.rglob("*") if f.is_file() and _publish_order(self._name(f))[0] == 0)
        sent = {}
        for name in [self._name(f) for f in rest + markers + manifest if not is_temp(f)]:
            try:
                stat = (self.local / name).stat()
            except FileNotFoundError:  # removed since it was listed (a stage's own clean-up)
                continue
            if done.get(name) != [stat.st_size, stat.st_mtime_ns]:
                self.fs.put_file(str(self.local / name), f"{self.root}/{name}")
                sent[name] = self.local / name
        self._record(sent)
        return len(sent) + self._unpublish_removed()

    def _unpublish_removed(self) -> int:
        """Delete from the store the files this copy held and no longer does (a stage's scratch
        files, stale markers), markers first: the store mirrors what the stage left."""
        done = self._published()
        gone = sorted((name for name in done if not (self.local / name).exists()), key=_publish_order, reverse=True)
        for name in gone:
            with suppress(FileNotFoundError):  # another machine's copy removed it first
                self.fs.rm_file(f"{self.root}/{name}")
            del done[name]
        if gone:
            atomic_write_json(self._ledger, done)
        return len(gone)

    def _name(self, path: Path) -> str:
        return path.relative_to(self.local).as_posix()

    def _published(self) -> dict[str, list[int]]:
        """``{relative name: [size, mtime_ns]}`` of the files the store holds as they are here."""
        return json.loads(self._ledger.read_text(encoding="utf-8")) if self._ledger.is_file() else {}

    def _record(self, files: dict[str, Path]) -> None:
        if files:
            done = self._published()
            done.update({name: [path.stat().st_size, path.stat().st_mtime_ns] for name, path in files.items()})
            atomic_write_json(self._ledger, done)


def _publish_order(name: str) -> tuple[int, str]:
    rank = next((i + 1 for i, last in enumerate(LAST) if name.startswith(last)), 0)
    return rank, name


def published_url(local: str | Path) -> str | None:
    """The output URL whose working copy is ``local`` (on the machine that started the stage), else None."""
    record = Path(local).with_name(f"{Path(local).name}.url")
    return record.read_text(encoding="utf-8") if record.is_file() else None


@contextmanager
def local_stage(inputs: list[str], out: str) -> Iterator[tuple[list[str], Path]]:
    """Local inputs and output folder for a stage whose paths may be URLs; the output is published
    when the block ends, however it ends (and task by task where a cluster runs the tasks)."""
    local_inputs = fetch_inputs(inputs)
    if not is_url(out):
        yield local_inputs, Path(out)
        return
    remote = RemoteOutput(out)
    remote.pull()
    atomic_write_text(remote.local.with_name(f"{remote.local.name}.url"), remote.url)
    try:
        yield local_inputs, remote.local
    finally:
        remote.publish()
