"""What a result needs to say about where it was produced."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

from .distributed import describe as distributed_run

PACKAGES = ("club", "torch", "torchvision", "timm", "numpy", "scikit-learn", "tqdm")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The commit of the CLUB checkout, with ``-dirty`` when it has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def machine_id() -> str:
    """An opaque identifier of this machine (16 hex digits of a hash of its host name,
    architecture and ``/etc/machine-id``): equal ids mean timings are comparable."""
    try:
        machine = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine = ""
    text = "|".join((platform.node(), platform.machine(), platform.processor(), machine))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def hardware(device: torch.device) -> dict:
    """What a measured time depends on: the machine, the device and torch's CPU threads."""
    return {
        "machine": machine_id(),
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(),
    }


def environment(device: torch.device) -> dict:
    """Versions, platform, device and commit of this run."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in PACKAGES},
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "precision": "bf16-autocast" if device.type == "cuda" else "fp32",
        "torch_threads": torch.get_num_threads(),
        "git_commit": git_commit(),
        **({"distributed": run} if (run := distributed_run()) else {}),
    }


ROOT = Path(__file__).resolve().parent.parent
CLUB_PACKAGES = ("benchmarks", "leaderboard", "methods", "metrics", "scenarios")


def source_sha256(method_cls: type, plugins: list[str]) -> dict[str, str]:
    """SHA-256 of every source file defining ``method_cls`` and its CLUB or plugin base classes.

    Keys are paths relative to the repository root for CLUB's packages, and the file name for
    plugins (``--plugin`` files, imported as ``club_plugin_<stem>``, and ``--plugin`` modules).
    Classes of other libraries (and ``object``) are left out.
    """
    hashes: dict[str, str] = {}
    for klass in method_cls.__mro__:
        name = klass.__module__
        file = getattr(sys.modules.get(name), "__file__", None)
        plugin = name.startswith("club_plugin_") or any(name == p or name.startswith(p + ".") for p in plugins)
        if file is None or not (plugin or name.split(".")[0] in CLUB_PACKAGES):
            continue
        path = Path(file).resolve()
        key = path.relative_to(ROOT).as_posix() if not plugin and path.is_relative_to(ROOT) else path.name
        hashes[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes
