"""One run over several processes: ``torchrun --nproc-per-node N -m benchmarks.run ...``.

torchrun starts N copies of the same command and tells each its ``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE`` and the rendezvous address. Every copy builds the same stream and the same
method from the same seed; then, data parallel as in DistributedDataParallel (Li et al.,
"PyTorch Distributed", VLDB 2020) but without wrapping the method's model, so any method
works unchanged:

- :func:`methods.training.batches` gives each rank its slice of every shuffled (training)
  batch, all ranks following rank 0's permutation;
- before every optimiser step a global step pre-hook replaces each gradient by its mean over
  the ranks, and on an optimiser's first step gives every rank rank 0's parameter values, so
  the parameters stay equal on every rank;
- evaluation runs on every rank on the whole test data; only rank 0 writes the run folder
  (the other ranks run in a private temporary copy, removed at exit, and print nothing).

With equal slices the averaged gradient is the gradient of the global batch's mean loss; when
the number of processes does not divide a batch, the slices differ by one sample and weigh the
same, as DDP's averaged gradients do.
Buffers that are not parameters (batch-norm statistics, replay memories) are each rank's own;
rank 0's are the ones evaluated. Process groups: NCCL on CUDA (one GPU per process, chosen
by ``LOCAL_RANK``), gloo on the CPU. A method that declares ``data_parallel = False`` is
refused with one line.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import weakref
from pathlib import Path

import torch

from .errors import UsageError

_first_step_done: weakref.WeakSet = weakref.WeakSet()  # optimisers whose parameters were synchronised


def world_size() -> int:
    """The number of processes torchrun started for this run (1 when not under torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank among them (0 when not under torchrun)."""
    return int(os.environ.get("RANK", "0"))


def start(args: argparse.Namespace, config: dict, method_cls: type, device: torch.device) -> argparse.Namespace:
    """Join the run's process group when started by torchrun; return the arguments this rank runs with.

    Rank 0 keeps ``args``; any other rank gets a private temporary run location (a copy of the
    run folder when resuming), wandb turned off in ``config`` and a silent stdout.
    """
    if world_size() <= 1:
        return args
    if not getattr(method_cls, "data_parallel", True):
        raise UsageError(
            f"method {config['method']!r} cannot run over several processes: it declares data_parallel = False; "
            "run it with one process (python -m benchmarks.run)"
        )
    import torch.distributed as dist
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    atexit.register(dist.destroy_process_group)
    register_optimizer_step_pre_hook(_average_gradients)
    if dist.get_rank() == 0:
        return args
    private = Path(tempfile.mkdtemp(prefix=f"club-rank{dist.get_rank()}-"))
    atexit.register(shutil.rmtree, private, ignore_errors=True)
    resume = None
    if args.resume:
        resume = private / args.resume.name
        shutil.copytree(args.resume, resume)
    config["wandb"] = False
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (open for the life of the process)
    return argparse.Namespace(**{**vars(args), "out": private, "resume": resume})


def describe() -> dict:
    """``{"world_size": N, "backend": ...}`` of a data-parallel run, ``{}`` otherwise (for ``result.json``)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return {"world_size": dist.get_world_size(), "backend": dist.get_backend()}
    return {}


def _average_gradients(optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
    """Optimiser step pre-hook: every gradient becomes its mean over the ranks.

    A parameter without a gradient on some ranks (e.g. a prompt no sample of a slice chose)
    counts as zero there, and keeps ``grad=None`` only when no rank has a gradient for it, so
    the optimiser skips it as it would in one process.
    """
    import torch.distributed as dist

    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not params:
        return
    on = params[0].device if dist.get_backend() == "nccl" else torch.device("cpu")
    if optimizer not in _first_step_done:
        _first_step_done.add(optimizer)
        values = torch.cat([p.detach().reshape(-1).float().to(on) for p in params])
        dist.broadcast(values, src=0)
        with torch.no_grad():
            for p, v in zip(params, values.split([p.numel() for p in params])):
                p.copy_(v.view_as(p))
    grads = [p.grad.reshape(-1).float() if p.grad is not None else torch.zeros(p.numel(), device=p.device) for p in params]
    present = torch.tensor([float(p.grad is not None) for p in params])
    flat = torch.cat([torch.cat(grads).to(on), present.to(on)])
    dist.all_reduce(flat)
    world = dist.get_world_size()
    summed, present = flat[: -len(params)], flat[-len(params) :].cpu()
    for p, g, any_rank in zip(params, summed.split([p.numel() for p in params]), present.tolist()):
        if any_rank == 0:
            continue
        mean = (g / world).view_as(p).to(p.device, p.dtype)
        if p.grad is None:
            p.grad = mean
        else:
            p.grad.copy_(mean)
