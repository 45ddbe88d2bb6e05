"""One attempt at one cell of a sweep: an ordinary ``python -m benchmarks.run`` in the cell's folder.

The cell's folder is the run's ``--out``, so it holds one run folder. An attempt finds it and
does what a user would: nothing when it has a ``result.json``, ``--resume RUN_DIR`` when it
was interrupted (or failed after some steps), a new run otherwise. The run's stdout and stderr
are appended to ``stdout.log`` and ``stderr.log`` in the cell's folder; a failed attempt's
error is the last line it wrote to stderr.

The run is ``benchmarks.run`` executed as ``__main__`` (with its usual arguments) by a short
launcher that first asks Linux to kill it when the process that started it dies
(``PR_SET_PDEATHSIG``), so that a sweep killed outright leaves no run behind that would race
the re-launched sweep. Runs get
their thread budget (``OMP_NUM_THREADS`` and friends) from the sweep.

This module is what a Ray worker imports: it imports nothing heavy.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

RESULT = "result.json"  # the files benchmarks.run writes in a run folder
CONFIG = "config.json"
STDOUT, STDERR = "stdout.log", "stderr.log"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
LAUNCHER = (
    "import ctypes, os, runpy, signal, sys\n"
    "try:\n    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\nexcept (OSError, AttributeError):\n    pass\n"
    "if os.getppid() != int(sys.argv.pop(1)):\n    sys.exit('the sweep that started this run has ended')\n"
    "runpy.run_module('benchmarks.run', run_name='__main__', alter_sys=True)\n"
)
PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)  # where this process found ``benchmarks``

_running: set[subprocess.Popen] = set()  # live runs of this process, for stop_all()
_lock = threading.Lock()


@dataclass
class Attempt:
    """What one attempt at a cell came to.

    ``status`` is ``done`` (the run folder has its ``result.json``), ``failed`` (the run
    exited with an error: worth one more attempt) or ``refused`` (exit status 2, a usage
    error that another attempt would repeat).
    """

    status: str
    seconds: float
    run_dir: str | None  # the run folder's name inside the cell's folder
    error: str | None = None
    resumed: bool = False
    skipped: bool = False  # finished before this attempt: nothing ran


def run_folder(cell_dir: Path) -> Path | None:
    """The run folder that ``benchmarks.run`` made in ``cell_dir`` (the newest, should there be several)."""
    if not cell_dir.is_dir():
        return None
    folders = [p for p in cell_dir.iterdir() if (p / CONFIG).is_file()]
    finished = [p for p in folders if (p / RESULT).is_file()]
    return max(finished or folders, key=lambda p: (p / CONFIG).stat().st_mtime, default=None)


def finished(cell_dir: Path) -> bool:
    folder = run_folder(cell_dir)
    return folder is not None and (folder / RESULT).is_file()


def attempt(cell_dir: Path, arguments: list[str], threads: int, env: dict[str, str] | None = None) -> Attempt:
    """Run, continue or skip the cell's run in ``cell_dir`` with ``threads`` threads."""
    cell_dir.mkdir(parents=True, exist_ok=True)
    existing = run_folder(cell_dir)
    if existing is not None and (existing / RESULT).is_file():
        return Attempt("done", 0.0, existing.name, skipped=True)
    run_args = ["--resume", str(existing)] if existing is not None else [*arguments, "--out", str(cell_dir)]
    command = [sys.executable, "-c", LAUNCHER, str(os.getpid()), *run_args]
    budget = {name: str(threads) for name in THREAD_VARIABLES}
    path = os.pathsep.join(p for p in (PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")) if p)
    environment = {**os.environ, **budget, "PYTHONPATH": path, **(env or {})}
    header = f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} python -m benchmarks.run {shlex.join(run_args)}\n"
    with open(cell_dir / STDOUT, "a") as out, open(cell_dir / STDERR, "a") as err:
        out.write(header)
        err.write(header)
        out.flush()
        err.flush()
        offset = err.tell()
        t0 = time.monotonic()
        with _lock:
            proc = subprocess.Popen(command, stdout=out, stderr=err, env=environment, stdin=subprocess.DEVNULL)
            _running.add(proc)
        try:
            code = proc.wait()
        finally:
            with _lock:
                _running.discard(proc)
        seconds = time.monotonic() - t0
    folder = run_folder(cell_dir)
    name = folder.name if folder is not None else None
    resumed = existing is not None
    if code == 0 and folder is not None and (folder / RESULT).is_file():
        return Attempt("done", seconds, name, resumed=resumed)
    error = _last_line(cell_dir / STDERR, offset)
    if code < 0:
        error = f"killed by {signal.Signals(-code).name}" + (f" ({error})" if error else "")
    elif code == 0:
        error = f"exited without writing {RESULT}"
    return Attempt("refused" if code == 2 else "failed", seconds, name, error or f"exit status {code}", resumed=resumed)


def stop_all() -> None:
    """Stop every run this process started (SIGTERM, then SIGKILL after 10 s)."""
    with _lock:
        procs = list(_running)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _last_line(path: Path, offset: int) -> str | None:
    """The last line written to ``path`` after ``offset``, without the runner's ``error:`` prefix."""
    with open(path, "rb") as f:
        f.seek(offset)
        lines = [line.strip() for line in f.read().decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].removeprefix("error: ") if lines else None


def pack(folder: Path) -> bytes:
    """The contents of ``folder`` as a gzipped tar archive (empty when it does not exist)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        if folder.is_dir():
            for child in sorted(folder.iterdir()):
                tar.add(child, arcname=child.name)
    return buffer.getvalue()


def unpack(archive: bytes, folder: Path) -> None:
    """Make ``folder`` hold exactly the archive's contents (extracted beside it, then swapped in)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    staging.chmod(0o755)  # mkdtemp's folders are private
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(staging, filter="data")
        else:  # Python before 3.10.12 / 3.11.4
            tar.extractall(staging)
    old = folder.with_name(f".{folder.name}.old")
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def attempt_elsewhere(archive: bytes, arguments: list[str], threads: int) -> tuple[Attempt, bytes]:
    """:func:`attempt` on a machine that does not see the sweep folder: the cell's folder
    arrives as an archive, runs in a temporary folder, and goes back as an archive."""
    with tempfile.TemporaryDirectory(prefix="club-cell-") as tmp:
        cell_dir = Path(tmp) / "cell"
        unpack(archive, cell_dir)
        outcome = attempt(cell_dir, arguments, threads)
        return outcome, pack(cell_dir)
