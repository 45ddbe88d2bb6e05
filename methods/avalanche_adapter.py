"""Avalanche's strategies as CLUB methods: ``--method avalanche:<Strategy>``.

Source: Carta et al., "Avalanche: A PyTorch Library for Deep Continual Learning", JMLR 2023
(``avalanche-lib``). This module imports Avalanche, so the registry imports it only when an
``avalanche:`` name is asked for (``pip install -e '.[avalanche]'``).

Each CLUB learn step becomes one Avalanche experience (task label 0, as in Avalanche's
class-incremental benchmarks) that the named strategy trains on with Avalanche's own loop:
``strategy.train(experience)``. The strategy is built on CLUB's backbone for the preset with
Avalanche's ``IncrementalClassifier`` as its head, CLUB's optimiser settings, ``epochs`` and
``batch_size`` as the strategy's ``train_epochs`` and ``train_mb_size``, and the run's
device. Its own keyword arguments are settings of the method (``--set ewc_lambda=1000``);
those Avalanche leaves without a default get the values of :data:`STRATEGIES`, with their
source. Predictions go through Avalanche's evaluation loop, so that strategies which change
their outputs at test time (iCaRL's and SCR's nearest-mean classifiers) predict as they do in
Avalanche.

Differences from Avalanche's defaults, each a setting:

- ``reset_optimizer=true``: the optimiser's state (momentum) is reset at every experience, as
  CLUB's own methods start each step with a fresh optimiser; Avalanche keeps it by default.
- ``avalanche:Replay`` keeps Avalanche's experience-balanced buffer by default;
  ``--set storage_policy=reservoir`` gives the reservoir buffer of CLUB's ``er``
  (``class_balanced`` is the third choice).

On online streams each incoming batch is one experience (as Avalanche's
``split_online_stream`` makes them, without task boundaries) trained for ``batch.updates``
epochs; only strategies that Avalanche designs for that setting declare ``online``.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Iterator

import avalanche
import avalanche.training as avalanche_training
import torch
from avalanche.benchmarks.scenarios.deprecated import DatasetExperience
from avalanche.benchmarks.scenarios.generic_scenario import CLStream
from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset
from avalanche.core import SupervisedPlugin
from avalanche.models import IncrementalClassifier, SCRModel
from avalanche.models.base_model import BaseModel
from avalanche.training.plugins import EvaluationPlugin, ReplayPlugin
from avalanche.training.storage_policy import ClassBalancedBuffer, ExperienceBalancedBuffer, ReservoirSamplingBuffer
from torch import nn

from scenarios import Batch, Step

from .backbones import build_backbone
from .base import Method, StreamInfo
from .domains import Domain, Finite, OneOf
from .registry import register_method, register_unrunnable
from .supervised import SupervisedMethod
from .training import OPTIMIZERS, make_optimizer

PREFIX = "avalanche:"
# CLUB's training settings, with SupervisedMethod's defaults (so that e.g. avalanche:Naive and
# finetune train alike unless told otherwise).
TRAINING = ("backbone", "epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay")
ADAPTER = (*TRAINING, "reset_optimizer", "storage_policy")  # settings that are not the strategy's
STORAGE_POLICIES = {
    "experience_balanced": lambda size: ExperienceBalancedBuffer(max_size=size, adaptive_size=True),
    "class_balanced": lambda size: ClassBalancedBuffer(max_memory_size=size, adaptive_size=True),
    "reservoir": ReservoirSamplingBuffer,
}
# Strategy arguments the adapter fills itself (model, optimiser, loop settings, what the
# stream determines); they are not settings.
FILLED = {
    "model", "optimizer", "criterion", "train_mb_size", "train_epochs", "eval_mb_size", "device", "plugins",
    "evaluator", "eval_every", "peval_mode", "feature_extractor", "classifier", "input_size",
    "buffer_transform", "augmentations", "cwr_layer_name", "last_layer_name", "slda_model", "num_classes",
}  # fmt: skip
EVAL_OUTPUT_FLOOR = -1000.0  # Avalanche's mask value, for classes a strategy has no output for


@dataclass(frozen=True)
class Spec:
    """How CLUB runs one Avalanche strategy (``summary`` is its line in ``--list``).

    ``head``: ``incremental`` (Avalanche's ``IncrementalClassifier``, grown as classes arrive),
    ``fixed`` (one output per class of the stream from the start, for strategies that store
    logits or copy the model's state across experiences: DER, iCaRL), ``scr`` (SCR's
    projection head, nearest-mean predictions) or ``features`` (the bare backbone, frozen, for
    StreamingLDA's own classifier). ``online``: the strategy is one Avalanche
    designs for single-pass streams of small batches. ``defaults``: values for the keyword
    arguments Avalanche leaves without a default, each ``(value, source)``.
    """

    summary: str
    head: str = "incremental"
    online: bool = False
    defaults: dict[str, tuple[Any, str]] = field(default_factory=dict)
    cls_name: str = ""  # Avalanche's class name when it differs from CLUB's


CLUB_ER = "CLUB's choice: the memory of CLUB's er (buffer_size=200)"
STRATEGIES: dict[str, Spec] = {
    "Naive": Spec("fine-tuning, no defence against forgetting", online=True),
    "Cumulative": Spec("retrains on every experience so far (the upper bound)"),
    "Replay": Spec("experience replay; storage_policy=experience_balanced (Avalanche's), class_balanced or reservoir", online=True),
    "GDumb": Spec("greedy class-balanced memory, model retrained on it from scratch (Prabhu et al. 2020)"),
    "LwF": Spec("Learning without Forgetting, distillation over all seen classes (Li & Hoiem 2017)", defaults={
        "alpha": (3.0, "CLUB's choice: lwf's lambda, so that the two differ only in their losses"),
        "temperature": (2.0, "CLUB's choice: lwf's temperature"),
    }),
    "EWC": Spec("Elastic Weight Consolidation (Kirkpatrick et al. 2017)", defaults={
        "ewc_lambda": (0.4, "ContinualAI/avalanche examples/ewc_mnist.py"),
    }),
    "SynapticIntelligence": Spec("Synaptic Intelligence (Zenke et al. 2017)", defaults={
        "si_lambda": (0.9, "ContinualAI/avalanche examples/mnist_syn_int.py"),
    }),
    "MAS": Spec("Memory Aware Synapses (Aljundi et al. 2018)"),
    "LFL": Spec("Less-Forgetful Learning, feature distillation (Jung et al. 2016)", defaults={
        "lambda_e": (1e-4, "ContinualAI/avalanche examples/lfl_mnist.py"),
    }),
    "GEM": Spec("Gradient Episodic Memory (Lopez-Paz & Ranzato 2017)", defaults={
        "patterns_per_exp": (256, "ContinualAI/avalanche examples/gem_agem_mnist.py"),
    }),
    "AGEM": Spec("Averaged GEM (Chaudhry et al. 2019)", defaults={
        "patterns_per_exp": (256, "ContinualAI/avalanche examples/gem_agem_mnist.py"),
    }),
    "GSS_greedy": Spec("Gradient-based Sample Selection, greedy (Aljundi et al. 2019)"),
    "MIR": Spec("Maximally Interfered Retrieval (Aljundi et al. 2019)", online=True, defaults={
        "mem_size": (200, CLUB_ER),
        "subsample": (50, "CLUB's choice: a quarter of the memory as candidates"),
    }),
    "ER_ACE": Spec("experience replay with asymmetric cross-entropy (Caccia et al. 2022)", online=True),
    "SCR": Spec("Supervised Contrastive Replay, nearest-mean predictions (Mai et al. 2021)", head="scr", online=True),
    "iCaRL": Spec("herded exemplars, distillation, nearest-mean-of-exemplars predictions (Rebuffi et al. 2017)", head="fixed", cls_name="ICaRL", defaults={
        "memory_size": (200, CLUB_ER),
        "fixed_memory": (True, "ContinualAI/avalanche examples/icarl.py"),
    }),
    "DER": Spec("Dark Experience Replay, replayed logits (Buzzega et al. 2020)", head="fixed"),
    "CWRStar": Spec("CWR*, consolidated output weights (Lomonaco & Maltoni 2017)"),
    "FeatureReplay": Spec("replay of stored last-layer features"),
    "FromScratchTraining": Spec("a fresh model trained on each experience alone (a baseline)"),
    "StreamingLDA": Spec("streaming linear discriminant analysis on the frozen backbone (Hayes & Kanan 2020)", head="features", online=True),
    "MER": Spec("Meta-Experience Replay (Riemer et al. 2019)"),
}  # fmt: skip
UNRUNNABLE = {
    "PNNStrategy": "one column per task, chosen by the task label at test time; CLUB never gives task ids to predict",
    "PackNet": "it selects a task's pruning mask by the task label at test time; CLUB never gives task ids to predict",
    "ExpertGateStrategy": "it builds one pre-trained AlexNet expert per task (downloaded weights)",
    "AR1": "it builds its own pre-trained MobileNet (downloaded weights) for 128x128 images",
    "LearningToPrompt": "it builds a pre-trained timm ViT (downloaded weights) for 224x224 images; CLUB's l2p runs on CLUB's backbones",
    "JointTraining": "it trains once on the whole stream, not step by step; avalanche:Cumulative or CLUB's joint is the upper bound",
    "GenerativeReplay": "its generator is a VAE for 1x28x28 images that cannot be replaced from the command line",
    "LaMAML": "it needs the `higher` package, which avalanche-lib does not install",
    "AETraining": "it trains an autoencoder, not a classifier",
    "VAETraining": "it trains a variational autoencoder, not a classifier",
    "CoPE": "its model must output prototype embeddings, not class logits",
    "BiC": "avalanche-lib 0.6.0 passes verbose= to torch's MultiStepLR, which this torch no longer accepts",
    "ER_AML": "in avalanche-lib 0.6.0 it never returns once a class holds fewer memory samples than a batch",
}  # fmt: skip


class BackboneWithHead(nn.Module, BaseModel):
    """A CLUB backbone (``feature_extractor``) followed by an Avalanche head (``classifier``)."""

    def __init__(self, feature_extractor: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.feature_extractor, self.classifier = feature_extractor, classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.feature_extractor(x))

    def get_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_extractor(x)


def build_model(head: str, feature_extractor: nn.Module, num_classes: int) -> nn.Module:
    """The strategy's model: ``feature_extractor`` (exposing ``out_dim``) and the head of :class:`Spec`."""
    width = feature_extractor.out_dim
    if head == "scr":  # SCR's projection head (Mai et al., CVPRW 2021): a two-layer MLP to 128 dimensions
        return SCRModel(feature_extractor, nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 128)))
    if head == "features":  # StreamingLDA fits its own classifier on the frozen backbone's features
        return feature_extractor
    if head == "fixed":
        return BackboneWithHead(feature_extractor, IncrementalClassifier(width, num_classes, masking=False))
    return BackboneWithHead(feature_extractor, IncrementalClassifier(width))


class StreamSoFar:
    """What iCaRL reads from ``experience.benchmark``: classes per experience and their order.

    A method only knows the steps it has learned; the classes still to come count as one last
    entry, so that the totals are the stream's (:class:`StreamInfo` ``num_classes``).
    """

    def __init__(self, learned: list[tuple[int, ...]], num_classes: int) -> None:
        seen = [c for classes in learned for c in classes]
        rest = [c for c in range(num_classes) if c not in set(seen)]
        self.n_classes = num_classes
        self.n_classes_per_exp = [len(classes) for classes in learned] + ([len(rest)] if rest else [])
        self.classes_order = seen + rest


class StepExperience(DatasetExperience):
    """One CLUB step (or online batch) as an Avalanche experience of a class-incremental stream."""

    def __init__(
        self, dataset, index: int, classes: list[int], num_seen: int, num_classes: int, benchmark: StreamSoFar | None, stream: str
    ) -> None:
        super().__init__(index, CLStream(stream, [], set_stream_info=False), benchmark, dataset)
        self.classes_in_this_experience = classes
        self.previous_classes = [c for c in range(num_seen) if c not in set(classes)]
        self.classes_seen_so_far = list(range(num_seen))
        self.future_classes = list(range(num_seen, num_classes))


class EvaluationOutputs(SupervisedPlugin):
    """Collects the outputs of an evaluation as the strategy's own plugins leave them."""

    def __init__(self) -> None:
        super().__init__()
        self.outputs: list[torch.Tensor] = []

    def before_eval(self, strategy, **kwargs) -> None:
        self.outputs = []

    def after_eval_forward(self, strategy, **kwargs) -> None:
        self.outputs.append(strategy.mb_output.detach())


def _restart(module: str, qualname: str, arguments: dict[str, Any]) -> types.GeneratorType:
    function: Any = importlib.import_module(module)
    for part in qualname.split("."):
        function = getattr(function, part)
    return function(**arguments)


class UnstartedGenerator:
    """Pickles as the call that made ``generator``, which must not have started yet.

    Several strategies keep an iterator between experiences (A-GEM's memory sampler, MIR's
    and FeatureReplay's replay loaders), always created at the end of one experience and first
    advanced in the next; when the runner checkpoints after a step it has not started, so
    calling its function again with the same arguments restores it exactly.
    """

    def __init__(self, generator: types.GeneratorType) -> None:
        if inspect.getgeneratorstate(generator) != inspect.GEN_CREATED or "<" in generator.__qualname__:
            raise TypeError(f"cannot checkpoint the iterator {generator.__qualname__}: it has started or cannot be imported")
        frame = generator.gi_frame
        self.call = (frame.f_globals["__name__"], generator.__qualname__, dict(frame.f_locals))

    def __reduce__(self) -> tuple:
        return _restart, self.call


def _checkpointable(obj: Any) -> Any:
    """``obj``, or a shallow copy of it whose generator attributes pickle as :class:`UnstartedGenerator`."""
    generators = {k: UnstartedGenerator(v) for k, v in vars(obj).items() if isinstance(v, types.GeneratorType)}
    if not generators:
        return obj
    clone = copy.copy(obj)
    vars(clone).update(generators)
    return clone


AVALANCHE_DIR = Path(avalanche.__file__).parent
_PASSED_ON: dict = {}  # the warnings registry of those passed on (shown once each, as by default)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Drops the warnings raised in Avalanche's own code (calls to its deprecated API, which it
    shows whatever the filters say, its tensor indexing, an evaluator without loggers): they are
    not the user's to act on. Warnings raised elsewhere are passed on."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if not Path(w.filename).is_relative_to(AVALANCHE_DIR):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, registry=_PASSED_ON)


def _no_loss() -> torch.Tensor:
    return torch.zeros(())


def _inputs(x: torch.Tensor) -> torch.Tensor:
    """Images as floats in [0, 1] on the CPU (what CLUB's backbones read like uint8 images),
    so that strategies which store or compare inputs (GSS, iCaRL) see real values."""
    return (x.float() / 255.0 if x.dtype == torch.uint8 else x.float()).cpu()


class AvalancheStrategy(Method):
    """Base of the generated ``avalanche:<Strategy>`` classes (see the module docstring)."""

    strategy_class: ClassVar[type]
    spec: ClassVar[Spec]
    renamed: ClassVar[dict[str, str]]  # setting name -> strategy argument, where they differ

    def __init__(self, info: StreamInfo, device: torch.device, **settings: Any) -> None:
        super().__init__(info, device)
        values = {**self.hyperparameters(), **settings}
        if values["optimizer"] not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {values['optimizer']!r}; choose from {', '.join(OPTIMIZERS)}")
        if values.get("storage_policy", "experience_balanced") not in STORAGE_POLICIES:
            raise ValueError(f"unknown storage_policy {values['storage_policy']!r}; choose from {', '.join(STORAGE_POLICIES)}")
        self.epochs, self.batch_size = values["epochs"], values["batch_size"]
        self.reset_optimizer = values["reset_optimizer"]
        backbone = info.backbone if values["backbone"] == "auto" else values["backbone"]
        self.backbone_name = backbone
        model = build_model(self.spec.head, build_backbone(backbone, info.input_shape), info.num_classes).to(device)
        optimizer = make_optimizer(model.parameters(), values["optimizer"], values["lr"], values["momentum"], values["weight_decay"])
        filled = {
            "model": model,
            "optimizer": optimizer,
            "criterion": nn.CrossEntropyLoss(),
            "train_mb_size": self.batch_size,
            "train_epochs": self.epochs,
            "eval_mb_size": self.batch_size,
            "device": device,
            "plugins": [],
            "evaluator": None,
            "feature_extractor": getattr(model, "feature_extractor", None),
            "classifier": getattr(model, "classifier", None),
            "input_size": model.out_dim if self.spec.head == "features" else list(info.input_shape),
            "slda_model": model,
            "num_classes": info.num_classes,
            "buffer_transform": None,
            "augmentations": nn.Identity(),
            "cwr_layer_name": "classifier.classifier",
            "last_layer_name": "classifier",
        }
        arguments = {self.renamed.get(k, k): v for k, v in values.items() if k in self.strategy_settings()}
        accepted = inspect.signature(self.strategy_class.__init__).parameters
        with _quiet():
            filled["evaluator"] = EvaluationPlugin(loggers=[], collect_all=False)
            self.strategy = self.strategy_class(**{k: v for k, v in filled.items() if k in accepted}, **arguments)
        if "storage_policy" in values:
            replay = next(p for p in self.strategy.plugins if isinstance(p, ReplayPlugin))
            replay.storage_policy = STORAGE_POLICIES[values["storage_policy"]](replay.mem_size)
        self.outputs = EvaluationOutputs()
        self.strategy.plugins.append(self.outputs)  # last, after the plugins that change outputs
        self.learned: list[tuple[int, ...]] = []
        self.experiences = 0
        self.num_seen = 0

    @classmethod
    def strategy_settings(cls) -> dict[str, Any]:
        """The strategy's own keyword arguments that are settings, with their defaults."""
        return {k: v for k, v in cls.hyperparameters().items() if k not in ADAPTER}

    def __getstate__(self) -> dict[str, Any]:
        """The method as the runner checkpoints it, with the strategy's iterators as calls (see
        :class:`UnstartedGenerator`)."""
        strategy = _checkpointable(copy.copy(self.strategy))
        strategy.plugins = [_checkpointable(p) for p in self.strategy.plugins]
        return {**self.__dict__, "strategy": strategy}

    def _train(self, x: torch.Tensor, y: torch.Tensor, classes: list[int], benchmark: StreamSoFar | None, reset: bool) -> None:
        dataset = _make_taskaware_tensor_classification_dataset(_inputs(x), y.cpu(), targets=y.tolist(), task_labels=0)
        experience = StepExperience(dataset, self.experiences, classes, self.num_seen, self.info.num_classes, benchmark, "train")
        with _quiet():
            self.strategy.train(experience, eval_streams=[], reset_optimizer_state=reset)
        self.experiences += 1

    def learn(self, step: Step) -> None:
        self.num_seen = max(self.num_seen, step.num_seen_classes)
        self.learned.append(step.classes)
        self.strategy.train_epochs, self.strategy.train_mb_size = self.epochs, self.batch_size
        benchmark = StreamSoFar(self.learned, self.info.num_classes)
        self._train(step.x, step.y, list(step.classes), benchmark, self.reset_optimizer)

    def observe(self, batch: Batch) -> None:
        self.num_seen = batch.num_seen_classes
        self.strategy.train_epochs, self.strategy.train_mb_size = batch.updates, len(batch.y)
        classes = sorted(set(batch.y.tolist()) | {self.num_seen - 1})  # the head covers the label space
        self._train(batch.x, batch.y, classes, None, reset=False)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        zeros = torch.zeros(len(x), dtype=torch.int64)
        dataset = _make_taskaware_tensor_classification_dataset(_inputs(x), zeros, targets=zeros.tolist(), task_labels=0)
        classes = list(range(self.num_seen))
        experience = StepExperience(dataset, self.experiences, classes, self.num_seen, self.info.num_classes, None, "test")
        # Outputs only: the loss Avalanche's evaluation computes for its metrics would need labels
        # (and FeatureReplay's would draw from its replay loader).
        self.strategy.eval_mb_size, size = len(x), self.strategy.eval_mb_size
        self.strategy.criterion = _no_loss
        try:
            with _quiet():
                self.strategy.eval(experience)
        finally:
            self.strategy.eval_mb_size = size
            del self.strategy.criterion
        outputs = torch.cat(self.outputs.outputs)[:, : self.num_seen]
        if outputs.shape[1] < self.num_seen:
            pad = outputs.new_full((len(x), self.num_seen - outputs.shape[1]), EVAL_OUTPUT_FLOOR)
            outputs = torch.cat([outputs, pad], 1)
        return outputs.to(x.device)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        model = self.strategy.model.eval()
        return getattr(model, "feature_extractor", model)(x)

    def details(self) -> dict[str, Any]:
        return {
            "avalanche_version": avalanche.__version__,
            "strategy": f"{self.strategy_class.__module__}.{self.strategy_class.__qualname__}",
            "head": self.spec.head,
            "backbone": self.backbone_name,
        }


def _settings(name: str, strategy_class: type, spec: Spec) -> tuple[list[inspect.Parameter], dict[str, str]]:
    """The keyword-only settings of ``avalanche:<name>``: CLUB's training settings, then the
    strategy's own arguments that take a number, a flag or a word (Avalanche's defaults, or
    those of ``spec``). A strategy argument named like one of the adapter's settings gets the
    prefix ``<name>_`` (FromScratchTraining's ``reset_optimizer`` is
    ``fromscratchtraining_reset_optimizer``); the renamings come back as setting -> argument."""
    club, club_domains = SupervisedMethod.hyperparameters(), SupervisedMethod.hyperparameter_domains()
    kw = inspect.Parameter.KEYWORD_ONLY

    def parameter(key: str, default: Any, domain: Domain | None = None) -> inspect.Parameter:
        """The setting, annotated with its domain: CLUB's for CLUB's settings, any finite
        number for a strategy's numeric argument (Avalanche declares no ranges)."""
        annotation: Any = type(default) if default is not None else Any
        if domain is None and isinstance(default, (int, float)) and not isinstance(default, bool):
            domain = Finite
        if domain is not None:
            annotation = Annotated[annotation, domain]
        return inspect.Parameter(key, kw, default=default, annotation=annotation)

    params, renamed = [parameter(k, club[k], club_domains.get(k)) for k in TRAINING], {}
    params.append(parameter("reset_optimizer", True))
    if name == "Replay":
        params.append(parameter("storage_policy", "experience_balanced", OneOf(*STORAGE_POLICIES)))
    for p in inspect.signature(strategy_class.__init__).parameters.values():
        if p.kind is not kw or p.name in FILLED:
            continue
        default = spec.defaults[p.name][0] if p.name in spec.defaults else p.default
        if default is not None and not isinstance(default, (bool, int, float, str)):
            continue  # not something a command line can set
        key = f"{name.lower()}_{p.name}" if p.name in ADAPTER else p.name
        if key != p.name:
            renamed[key] = p.name
        params.append(parameter(key, default))
    return params, renamed


def _adapter(name: str, spec: Spec) -> type[AvalancheStrategy]:
    """The method class of ``avalanche:<name>``, importable as ``methods.avalanche_adapter.Avalanche<name>``."""
    strategy_class = getattr(avalanche_training, spec.cls_name or name)
    params, renamed = _settings(name, strategy_class, spec)

    def __init__(self, info: StreamInfo, device: torch.device, **settings: Any) -> None:
        AvalancheStrategy.__init__(self, info, device, **settings)

    head = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in ("self", "info", "device")]
    __init__.__signature__ = inspect.Signature(head + params)  # type: ignore[attr-defined]
    __init__.__annotations__ = {p.name: p.annotation for p in params}  # where the domains are read from
    qualname = f"Avalanche{name}"
    cls = type(
        qualname,
        (AvalancheStrategy,),
        {
            "__init__": __init__,
            "__doc__": f"Avalanche's {name}: {spec.summary}.",
            "__module__": __name__,
            "__qualname__": qualname,
            "strategy_class": strategy_class,
            "spec": spec,
            "online": spec.online,
            "renamed": renamed,
        },
    )
    return register_method(PREFIX + name)(cls)


for _name, _spec in STRATEGIES.items():
    globals()[f"Avalanche{_name}"] = _adapter(_name, _spec)
for _name, _reason in UNRUNNABLE.items():
    register_unrunnable(PREFIX + _name, _reason)
