"""The :class:`Method` surface every continual-learning or unlearning method implements."""

from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from scenarios import Batch, Step

from .domains import Domain, parameter_domains


@dataclass(frozen=True)
class StreamInfo:
    """What a method may know about a stream before it starts: no data, no test set."""

    input_shape: tuple[int, int, int]
    num_classes: int
    num_steps: int
    backbone: str  # the preset's default network for this data
    vocabulary: tuple[str, ...] = ()  # every word of a text stream, for word-level models


class MethodError(RuntimeError):
    """A method was asked for something it cannot do (shown to the user as one line)."""


class Diverged(MethodError):
    """Training produced a non-finite loss or the model non-finite outputs: its numbers mean nothing."""


def usable_logits(logits: torch.Tensor) -> torch.Tensor:
    """Whether ``logits`` (N × classes) can be scored, as a 0-dim bool tensor on their device (no
    synchronisation): no NaN, no +inf, and at least one finite logit per sample (−inf alone
    rules a class out, which a method may do)."""
    return ~(logits.isnan().any() | logits.isposinf().any()) & torch.isfinite(logits).any(1).all()


class Method:
    """Base class. Subclasses implement :meth:`learn` and :meth:`predict`, and may implement
    :meth:`forget`.

    Hyperparameters are the keyword-only arguments of ``__init__`` (with defaults) along
    the class hierarchy: ``--set lr=0.1`` on the command line sets ``lr``. A method owns its
    model, optimiser and any memory it keeps; it never sees test data.
    """

    name: ClassVar[str] = ""
    # Capabilities that protocols may require (``register_protocol(..., capability=...)``); the
    # runner refuses a method whose flag is false before training. Opt in with one line in the class.
    few_shot: ClassVar[bool] = False  # learns from N-way K-shot sessions after a base session
    online: ClassVar[bool] = False  # learns from each incoming batch once (``observe``)
    #: Whether the method may run as one data-parallel run over several processes (``torchrun``):
    #: each process trains on its slice of every shuffled :func:`methods.training.batches` pass
    #: and gradients are averaged before each optimiser step. A method with a shuffled pass that
    #: is not training (e.g. statistics gathered from it) sets this False and is refused there.
    data_parallel: ClassVar[bool] = True
    #: Serves forget requests. Set for every class that implements :meth:`forget` (a class may
    #: still declare it False explicitly); protocols with forget steps require it.
    forgets: ClassVar[bool] = False
    #: Whether :meth:`forget` uses the retain set; the runner removes ``retain_x``/``retain_y``
    #: from forget steps given to methods that leave this False.
    needs_retain: ClassVar[bool] = False
    modality: ClassVar[str] = "image"  # "text" for language-model methods

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for klass in cls.__mro__:  # the nearest declaration of ``forgets``, or of ``forget`` itself, decides
            if "forgets" in klass.__dict__ and klass is not Method:
                cls.forgets = klass.__dict__["forgets"]
                break
            if "forget" in klass.__dict__:
                cls.forgets = klass is not Method
                break

    def __init__(self, info: StreamInfo, device: torch.device) -> None:
        self.info = info
        self.device = device

    def learn(self, step: Step) -> None:
        """Update the model with a ``learn`` step."""
        raise NotImplementedError(f"{type(self).__name__} must implement learn()")

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits over every class seen so far for a batch of images on ``self.device``."""
        raise NotImplementedError(f"{type(self).__name__} must implement predict()")

    def forget(self, step: Step) -> None:
        """Remove what was learned from the data a ``forget`` step names."""
        raise MethodError(f"method {self.name!r} cannot forget")

    def observe(self, batch: Batch) -> None:
        """Train on one incoming batch of an online stream, at most ``batch.updates`` optimiser
        steps (the runner has already scored the batch with :meth:`predict`)."""
        raise MethodError(f"method {self.name!r} cannot learn from an online stream")

    def features(self, x: torch.Tensor) -> torch.Tensor | None:
        """Activations of the layer whose dormant units and effective rank online runs log
        (N × units), or ``None`` when the method has no such layer."""
        return None

    def details(self) -> dict[str, Any]:
        """Facts about the run the hyperparameters do not show (e.g. the exact pre-trained
        weights loaded); stored as ``result["method"]["details"]``."""
        return {}

    def autocast(self) -> contextlib.AbstractContextManager:
        """The precision policy of every forward pass: bf16 autocast on CUDA, fp32 on CPU."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @classmethod
    def hyperparameters(cls) -> dict[str, Any]:
        """Default value of every hyperparameter, gathered over the class hierarchy."""
        defaults: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            for p in inspect.signature(init).parameters.values():
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty:
                    defaults[p.name] = p.default
        return defaults

    @classmethod
    def hyperparameter_domains(cls) -> dict[str, Domain]:
        """The declared :class:`~methods.domains.Domain` of each hyperparameter (from its
        ``Annotated`` annotation), gathered over the class hierarchy like the defaults; the
        most derived declaration wins."""
        domains: dict[str, Domain] = {}
        names = cls.hyperparameters()
        for klass in reversed(cls.__mro__):
            init = klass.__dict__.get("__init__")
            if inspect.isfunction(init):
                domains.update({k: v for k, v in parameter_domains(init).items() if k in names})
        return domains
