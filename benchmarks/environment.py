"""What a result needs to say about where it was produced."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

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
    }
