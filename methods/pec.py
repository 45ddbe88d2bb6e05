"""PEC: Prediction Error-based Classification.

Source: Zając, Tuytelaars & van de Ven, "Prediction Error-based Classification for
Class-Incremental Learning", ICLR 2024 (architecture and defaults read in
michalzajac-ml/pec: models/pec.py, backbone/pec_modules.py, scripts/table1/*/pec.sh).

One frozen random teacher h is shared by all classes; class c has its own student g_c,
trained only on samples of c to minimise (1/d)·‖g_c(x) − h(x)‖² (d = output dim). A sample is
assigned the class whose student imitates the teacher best: score_c(x) = −(1/d)·‖g_c(x) − h(x)‖².
Students are independent, so nothing is forgotten and the task split does not matter. Every
student starts as a copy of the same initial student. Each class has its own Adam state (one
Adam with a parameter group per class is exactly that: Adam's state is per parameter) and its
own learning rate, decayed linearly to 0 over the batches of the task that brings the class
(constant in task-free streams, where no task length is announced).

Networks (``arch``): ``mlp`` = Linear(in, w) → LayerNorm → GELU → Linear(w, d), with w = 10 for
a student, 500·10 for the teacher, d = 99, lr 0.01 (the paper's MNIST setting); ``cnn`` =
Conv 3×3 (w channels) → InstanceNorm(affine) → ReLU → adaptive average pool p×p → Linear(·, d),
with w = 60, teacher 100·60 channels, p = 5, d = 743, lr 3e-4 (the paper's CIFAR-10 setting).
"""

from __future__ import annotations

from typing import Annotated

import copy

import torch
from torch import nn

from scenarios import Batch, Step

from .backbones.image_input import ImageInput
from .base import Method, StreamInfo
from .domains import AtLeast, NonNegative, OneOf
from .feature_cache import FeatureCache
from .registry import register_method
from .training import FiniteLosses, batches, progress

_DEFAULTS = {
    "mlp": {"width": 10, "teacher_multiplier": 500, "output_dim": 99, "lr": 0.01},
    "cnn": {"width": 60, "teacher_multiplier": 100, "output_dim": 743, "lr": 3e-4},
}


def pec_network(arch: str, input_shape: tuple[int, int, int], width: int, output_dim: int, pool: int) -> nn.Module:
    """A PEC student (or, with a wider ``width``, teacher) taking uint8 images."""
    channels, height, size = input_shape
    if arch == "mlp":
        body = [nn.Flatten(), nn.Linear(channels * height * size, width), nn.LayerNorm(width), nn.GELU(), nn.Linear(width, output_dim)]
    else:
        body = [
            nn.Conv2d(channels, width, 3, padding=1),
            nn.InstanceNorm2d(width, affine=True),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(pool),
            nn.Flatten(),
            nn.Linear(width * pool * pool, output_dim),
        ]
    return nn.Sequential(ImageInput(), *body)


@register_method("pec")
class PEC(Method):
    """One student per class imitating a shared frozen random teacher; predicts the best imitator."""

    few_shot = True  # a student needs only its own class's samples
    online = True

    def __init__(
        self,
        info: StreamInfo,
        device: torch.device,
        *,
        arch: Annotated[str, OneOf("auto", *_DEFAULTS)] = "auto",
        width: Annotated[int, NonNegative] = 0,
        teacher_multiplier: Annotated[int, NonNegative] = 0,
        output_dim: Annotated[int, NonNegative] = 0,
        pool: Annotated[int, AtLeast(1)] = 5,
        lr: Annotated[float, NonNegative] = 0.0,
        epochs: Annotated[int, AtLeast(1)] = 1,
        batch_size: Annotated[int, AtLeast(1)] = 1,
    ) -> None:
        """``arch="auto"`` picks ``cnn`` for colour images and ``mlp`` otherwise; 0 for
        ``width``, ``teacher_multiplier``, ``output_dim`` or ``lr`` means the arch's default.
        ``epochs`` and ``batch_size`` apply to offline protocols only (the paper: 1 and 1)."""
        super().__init__(info, device)
        if arch == "auto":
            arch = "cnn" if info.input_shape[0] == 3 else "mlp"
        if arch not in _DEFAULTS:
            raise ValueError(f"arch must be auto, mlp or cnn, got {arch!r}")
        defaults = _DEFAULTS[arch]
        self.arch = arch
        self.width = width or defaults["width"]
        self.teacher_multiplier = teacher_multiplier or defaults["teacher_multiplier"]
        self.output_dim = output_dim or defaults["output_dim"]
        self.lr = lr or defaults["lr"]
        self.pool, self.epochs, self.batch_size = pool, epochs, batch_size
        shape = info.input_shape
        self.teacher = pec_network(arch, shape, self.width * self.teacher_multiplier, self.output_dim, pool).to(device)
        self.teacher.requires_grad_(False).eval()
        self.teacher_cache = FeatureCache()
        self.initial_student = pec_network(arch, shape, self.width, self.output_dim, pool).to(device)
        self.students = nn.ModuleDict()  # class id (as str) → student
        self.optimizer: torch.optim.Adam | None = None
        self.num_seen = 0
        self.task_index = -1  # step whose linear lr decay is running (-1: none)
        self.task_batches = 0  # batches in that task
        self.task_done = 0  # batches of that task trained so far
        self.task_classes: set[int] = set()  # classes whose learning rate decays in that task

    def _student(self, c: int) -> nn.Module:
        key = str(c)
        if key not in self.students:
            self.students[key] = copy.deepcopy(self.initial_student)
            group = {"params": list(self.students[key].parameters()), "lr": self.lr, "class_id": c}
            if self.optimizer is None:
                self.optimizer = torch.optim.Adam([group], lr=self.lr)
            else:
                self.optimizer.add_param_group(group)
        return self.students[key]

    def _start_task(self, index: int, classes: tuple[int, ...], num_batches: int) -> None:
        """Reset the linear decay of ``classes``' learning rates: lr·(1 − k/num_batches) at batch k."""
        self.task_index, self.task_batches, self.task_done = index, num_batches, 0
        self.task_classes = set(classes)

    def _train_batch(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimiser step: Σ over classes c in the batch of mean over c's samples of (1/d)‖g_c − h‖²."""
        classes = sorted(set(y.tolist()))
        students = {c: self._student(c) for c in classes}
        assert self.optimizer is not None
        if self.task_index >= 0:
            factor = max(0.0, 1 - self.task_done / max(1, self.task_batches))
            for group in self.optimizer.param_groups:
                if group["class_id"] in self.task_classes:
                    group["lr"] = self.lr * factor
            self.task_done += 1
        with self.autocast():
            target = self.teacher_output(x)
            if len(classes) == 1:  # the whole batch is one class's (always, with online batches of 1)
                loss = ((students[classes[0]](x) - target) ** 2).mean()
            else:
                loss = sum(((students[c](x[y == c]) - target[y == c]) ** 2).mean() for c in classes)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def learn(self, step: Step) -> None:
        self.num_seen = max(self.num_seen, step.num_seen_classes)
        num_batches = -(-len(step.y) // self.batch_size)
        self._start_task(step.index, step.classes, self.epochs * num_batches)
        for epoch in progress(range(self.epochs), f"step {step.index} epochs"):
            losses = FiniteLosses(self.device)
            for xb, yb in progress(batches(step.x, step.y, self.batch_size, self.device), "batches", num_batches):
                losses.add(self._train_batch(xb, yb))
            losses.check(self.name, f"in epoch {epoch + 1} of {self.epochs}")

    def observe(self, batch: Batch) -> None:
        self.num_seen = max(self.num_seen, batch.num_seen_classes)
        task = batch.task
        if task is None:
            self.task_index = -1
        elif task.index != self.task_index:
            self._start_task(task.index, task.classes, -(-task.num_samples // len(batch.y)) * batch.updates)
        for _ in range(batch.updates):
            self._train_batch(batch.x, batch.y)

    def teacher_output(self, x: torch.Tensor) -> torch.Tensor:
        """h(x) of the frozen teacher, computed once per image: the runner predicts an online batch
        and then trains on the same tensor (kept here), and test sets and repeated training
        images are found in :attr:`teacher_cache`."""
        memo = self.__dict__.get("_teacher_memo")
        if memo is not None and memo[0] is x:
            return memo[1]
        target = self.teacher_cache(x, self.teacher)
        self.__dict__["_teacher_memo"] = (x, target)
        return target

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        target = self.teacher_output(x)
        scores = torch.full((len(x), self.num_seen), float("-inf"), device=x.device)
        if self.students:
            classes = torch.tensor([int(key) for key in self.students], device=x.device)
            error = ((self.student_outputs(x) - target) ** 2).mean(2)  # students × samples
            scores[:, classes] = -error.T.float()
        return scores

    def student_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """g_c(x) of every student c at once (students × B × d), as one network whose layers hold
        every student's weights side by side: linear layers and convolutions grouped by student,
        the normalisations per student."""
        students = list(self.students.values())
        layers = [list(student) for student in students]  # ImageInput, then the arch's layers
        stack = lambda i, name: torch.cat([getattr(layer[i], name) for layer in layers])  # noqa: E731
        n = len(students)
        h = layers[0][0](x)  # ImageInput
        if self.arch == "mlp":  # Flatten, Linear, LayerNorm, GELU, Linear
            h = torch.nn.functional.linear(h.flatten(1), stack(2, "weight"), stack(2, "bias"))  # B × n·w
            norm = layers[0][3]
            h = torch.nn.functional.group_norm(h, n, stack(3, "weight"), stack(3, "bias"), norm.eps)
            h = torch.nn.functional.gelu(h).view(len(x), n, -1).transpose(0, 1)  # n × B × w
            last = 5
        else:  # Conv, InstanceNorm, ReLU, AdaptiveAvgPool, Flatten, Linear
            conv, norm = layers[0][1], layers[0][2]
            h = torch.nn.functional.conv2d(h.repeat(1, n, 1, 1), stack(1, "weight"), stack(1, "bias"), padding=conv.padding, groups=n)
            h = torch.nn.functional.instance_norm(h, weight=stack(2, "weight"), bias=stack(2, "bias"), eps=norm.eps)
            h = torch.nn.functional.adaptive_avg_pool2d(torch.relu(h), self.pool)
            h = h.view(len(x), n, -1).transpose(0, 1)  # n × B × w·p·p
            last = 6
        weight = torch.stack([layer[last].weight for layer in layers])  # n × d × in
        bias = torch.stack([layer[last].bias for layer in layers])
        return torch.baddbmm(bias[:, None, :], h, weight.transpose(1, 2))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_teacher_memo", None)  # the last batch's teacher output: not part of the model
        return state
