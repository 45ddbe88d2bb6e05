"""Files of a run: atomic writes (a reader sees the old file or the new one, never half of one),
the temporary files an interrupted write leaves, writable folders, unique run folders and the
lock that keeps a second process out of a run folder."""

from __future__ import annotations

import errno
import fcntl
import itertools
import json
import math
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

import torch

from .errors import EnvironmentFailure, UsageError

TEMP_PATTERN = ".*.tmp"  # what _atomic names its temporary files: .<name>.<random>.tmp
#: errno values that mean the machine, not the user, is at fault (exit status 1, not 2)
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO}


def _atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_safe(value: Any) -> Any:
    """NaN and ±inf become ``null`` so the file stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(json_safe(data), indent=1, allow_nan=False) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    _atomic(path, lambda f: f.write(text.encode()))


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    _atomic(path, lambda f: f.write(data))


def save_torch(path: Path, obj: Any, **options: Any) -> None:
    """``torch.save`` to ``path`` atomically (``options`` go to ``torch.save``)."""
    _atomic(path, lambda f: torch.save(obj, f, **options))


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files that writes into ``folder`` interrupted by a kill left behind
    (``.<name>.<random>.tmp``; only ``folder`` itself, not its subfolders). Call it only while
    no other process writes there (under :class:`FolderLock`)."""
    removed = [p for p in Path(folder).glob(TEMP_PATTERN) if p.is_file()]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def os_failure(error: OSError, what: str) -> Exception:
    """``error`` while doing ``what`` as a one-line error: the machine's fault (a full disk, an
    I/O error) is an :class:`EnvironmentFailure`, anything else (permissions, a file where a
    folder should be) a :class:`UsageError`."""
    reason = error.strerror or type(error).__name__
    kind = EnvironmentFailure if error.errno in ENVIRONMENT_ERRNOS else UsageError
    return kind(f"{what}: {reason}")


def check_writable(folder: Path, flag: str) -> None:
    """Create ``folder`` if needed and write (then delete) a probe file in it, so that an
    unusable output or cache location is reported before any work, as one line naming ``flag``."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{flag} {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise os_failure(e, f"{flag} {folder}: cannot write there") from None


def make_run_folder(parent: Path, stem: str) -> Path:
    """A new folder ``parent/stem`` (``stem-2``, ``stem-3``, … when taken). ``mkdir`` is atomic,
    so processes starting at the same moment never share a folder."""
    for n in itertools.count(1):
        path = Path(parent) / (stem if n == 1 else f"{stem}-{n}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise AssertionError("itertools.count() does not end")


class FolderLock:
    """An exclusive ``flock`` on a run folder, held while a process works in it; released on
    :meth:`release` or when the process ends, however it ends (a kill included)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.fd: int | None = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            raise EnvironmentFailure(f"{self.folder} is in use by another process (a run or a resume); wait for it to end") from None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "FolderLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
