"""Where a sweep's runs execute: worker processes on this machine, or tasks on a Ray cluster.

Both run the same thing, :func:`benchmarks.sweep_cell.attempt`, and the sweep's driver talks
to both through the same calls: ``submit`` an attempt at a cell, ``wait`` for some to end,
read an attempt's ``outcome``, ``stop`` the attempts in flight, ``close``. Ray is imported only by
:class:`RayBackend`.
"""

from __future__ import annotations

import logging
import math
import os
import queue
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path
from typing import Any

from .errors import UsageError
from .sweep_cell import Attempt, attempt, attempt_elsewhere, pack, stop_all, unpack


class BackendUnavailable(RuntimeError):
    """The backend cannot start (Ray missing or unreachable): an environment failure, exit 1."""


def gpu_slots(gpu_ids: list[str], gpus_per_run: float) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` of each run that may execute at once: ``1/gpus_per_run`` runs
    per GPU when a run asks for a share of one, runs of ``gpus_per_run`` whole GPUs otherwise."""
    if gpus_per_run <= 1:
        per_gpu = max(1, math.floor(1 / gpus_per_run + 1e-9))
        return [gpu for _ in range(per_gpu) for gpu in gpu_ids]
    if gpus_per_run != int(gpus_per_run):
        raise UsageError(f"--gpus-per-run {gpus_per_run}: above 1, a run takes whole GPUs")
    size = int(gpus_per_run)
    if size > len(gpu_ids):
        raise UsageError(f"--gpus-per-run {size}: this machine has {len(gpu_ids)} GPU(s)")
    return [",".join(gpu_ids[i : i + size]) for i in range(0, len(gpu_ids) - size + 1, size)]


def visible_gpus(device: str) -> list[str]:
    """The ids (as ``CUDA_VISIBLE_DEVICES`` names them) of the GPUs runs on ``device`` may use."""
    if device == "cpu":
        return []
    import torch

    count = torch.cuda.device_count()
    named = [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    return named[:count] if named else [str(i) for i in range(count)]


class LocalBackend:
    """Runs as worker processes on this machine: one per GPU share when runs use GPUs,
    otherwise ``workers`` at a time (default: CPU cores / ``cpus_per_run``), each run with a
    budget of ``cpus_per_run`` threads."""

    def __init__(self, workers: int | None, cpus_per_run: int, gpus_per_run: float | None, device: str) -> None:
        gpus = visible_gpus(device) if gpus_per_run != 0 else []
        if gpus:
            slots: list[dict[str, str]] = [{"CUDA_VISIBLE_DEVICES": ids} for ids in gpu_slots(gpus, gpus_per_run or 1)]
            slots = slots[: workers or len(slots)]
            where = f"{len(slots)} at a time on {len(gpus)} GPU(s)"
        else:
            count = workers or max(1, (os.cpu_count() or 1) // cpus_per_run)
            slots = [{"CUDA_VISIBLE_DEVICES": ""} if device != "cpu" else {} for _ in range(count)]
            where = f"{count} at a time on the CPU"
        self.threads = cpus_per_run
        self.capacity = self.window = len(slots)
        self.description = f"local worker processes, {where}, {cpus_per_run} thread(s) each"
        self._slots: queue.Queue[dict[str, str]] = queue.Queue()
        for slot in slots:
            self._slots.put(slot)
        self._pool = ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="sweep-run")

    def submit(self, cell_dir: Path, arguments: list[str]) -> Future:
        return self._pool.submit(self._attempt, cell_dir, arguments)

    def _attempt(self, cell_dir: Path, arguments: list[str]) -> Attempt:
        slot = self._slots.get()
        try:
            return attempt(cell_dir, arguments, self.threads, slot)
        finally:
            self._slots.put(slot)

    def wait(self, handles: list[Future], timeout: float) -> list[Future]:
        return list(wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED).done)

    def outcome(self, handle: Future, cell_dir: Path) -> Attempt:
        return handle.result()

    def stop(self, handles: list[Future]) -> None:
        stop_all()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class RayBackend:
    """Each attempt is a Ray task asking for ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs
    (a fraction lets small runs share a GPU), on the cluster at ``address`` or on a local Ray
    instance started for the sweep (and shut down after it).

    Shared file system (the default): the task runs in the cell's folder itself. With
    ``send_back`` the task gets the cell's folder as an archive, runs in a temporary folder
    on its node, and returns the folder as an archive that the driver unpacks in place.
    """

    def __init__(
        self,
        address: str | None,
        workers: int | None,
        cpus_per_run: int,
        gpus_per_run: float | None,
        device: str,
        send_back: bool,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise BackendUnavailable("--backend ray needs Ray: pip install 'club[sweep]'") from None
        self.ray = ray
        self.owned = not ray.is_initialized()
        if self.owned:
            try:
                if address:
                    ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
                else:
                    cpus = workers * cpus_per_run if workers else os.cpu_count()
                    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError... for an unusable address
                where = f"at {address}" if address else "locally"
                raise BackendUnavailable(f"--backend ray: cannot start or reach Ray {where}: {_one_line(e)}") from None
        resources = ray.cluster_resources()
        if gpus_per_run is None:
            gpus_per_run = 1.0 if device != "cpu" and resources.get("GPU", 0) >= 1 else 0.0
        capacity = math.floor(resources.get("CPU", 0) / cpus_per_run)
        if gpus_per_run:
            capacity = min(capacity, math.floor(resources.get("GPU", 0) / gpus_per_run + 1e-9))
        self.capacity = max(1, min(capacity, workers or capacity))
        self.window = workers or 1_000_000  # Ray queues what the cluster cannot run yet
        self.send_back = send_back
        self.threads = cpus_per_run
        task = attempt_elsewhere if send_back else attempt
        self._remote = ray.remote(max_retries=0)(task).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run)
        storage = "run folders sent back to the driver" if send_back else "run folders on the shared path"
        self.description = (
            f"Ray ({'cluster at ' + address if address else 'local instance'}, {resources.get('CPU', 0):g} CPUs, "
            f"{resources.get('GPU', 0):g} GPUs), {cpus_per_run} CPU(s) and {gpus_per_run:g} GPU(s) per run, {storage}"
        )

    def submit(self, cell_dir: Path, arguments: list[str]) -> Any:
        if self.send_back:
            return self._remote.remote(pack(cell_dir), arguments, self.threads)
        return self._remote.remote(cell_dir, arguments, self.threads)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        ready, rest = self.ray.wait(handles, num_returns=1, timeout=timeout)
        if ready and rest:
            ready += self.ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        return ready

    def outcome(self, handle: Any, cell_dir: Path) -> Attempt:
        try:
            value = self.ray.get(handle)
        except self.ray.exceptions.RayError as e:  # the worker or its node died, or the task was cancelled
            return Attempt("failed", 0.0, None, error=_one_line(e))
        if not self.send_back:
            return value
        outcome, archive = value
        unpack(archive, cell_dir)
        return outcome

    def stop(self, handles: list[Any]) -> None:
        for handle in handles:  # force: the worker process ends, and its run with it (PR_SET_PDEATHSIG)
            self.ray.cancel(handle, force=True)

    def close(self) -> None:
        if self.owned:
            self.ray.shutdown()


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}".rstrip(": ")
