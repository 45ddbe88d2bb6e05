"""Experience Replay with a reservoir buffer.

Source: Chaudhry et al., "On Tiny Episodic Memories in Continual Learning", 2019; reservoir
sampling from Vitter, "Random Sampling with a Reservoir", ACM TOMS 1985.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F

from scenarios import Batch, Step

from .base import StreamInfo
from .domains import NonNegative
from .registry import register_method
from .supervised import SupervisedMethod


class ReservoirBuffer:
    """A uniform sample of every item offered so far, at most ``capacity`` items.

    Item n (0-based) is kept with probability capacity/(n+1), replacing a random slot.
    The items live on ``device`` (the training device), so sampling moves no data; only the
    items that enter the reservoir are copied there.
    """

    def __init__(self, capacity: int, device: torch.device | str = "cpu") -> None:
        self.capacity = capacity
        self.device = torch.device(device)
        self.seen = 0
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.y is None else len(self.y)

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Offer each row of ``(x, y)`` to the reservoir, in order."""
        if self.capacity <= 0:
            return
        if self.x is None:
            self.x = torch.empty((0, *x.shape[1:]), dtype=x.dtype, device=self.device)
            self.y = torch.empty(0, dtype=y.dtype, device=self.device)
        free = max(0, self.capacity - len(self))
        self.x = torch.cat([self.x, x[:free].to(self.device)])
        self.y = torch.cat([self.y, y[:free].to(self.device)])
        n_rest = len(y) - free
        if n_rest > 0:
            ranks = self.seen + free + torch.arange(n_rest)  # 0-based index of each remaining item
            slots = (torch.rand(n_rest) * (ranks + 1)).long()
            keep = slots < self.capacity
            # Items are offered in order, so when two land on one slot the later one stays.
            final = dict(zip(slots[keep].tolist(), (free + torch.nonzero(keep).flatten()).tolist()))
            if final:
                target = torch.tensor(list(final), device=self.device)
                source = torch.tensor(list(final.values()))
                self.x[target] = x[source].to(self.device)
                self.y[target] = y[source].to(self.device)
        self.seen += len(y)

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` items drawn uniformly without replacement (fewer if the buffer is smaller)."""
        assert self.x is not None and self.y is not None
        idx = torch.randperm(len(self))[:n].to(self.device)
        return self.x[idx], self.y[idx]


@register_method("er")
class ExperienceReplay(SupervisedMethod):
    """Each batch is joined by an equally large batch drawn from the reservoir buffer.

    Offline, a step's data enters the buffer after the step; online, each incoming batch
    enters it once its updates are done (online ER, Chaudhry et al. 2019).
    """

    online = True

    def __init__(self, info: StreamInfo, device: torch.device, *, buffer_size: Annotated[int, NonNegative] = 200, **kwargs) -> None:
        super().__init__(info, device, **kwargs)
        self.buffer = ReservoirBuffer(buffer_size, device)

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: Step | Batch) -> torch.Tensor:
        if len(self.buffer):
            bx, by = self.buffer.sample(len(y))
            x, y = torch.cat([x, bx]), torch.cat([y, by])
        return F.cross_entropy(self.model(x), y)

    def after_step(self, step: Step) -> None:
        order = torch.randperm(len(step.y))
        self.buffer.add(step.x[order], step.y[order])

    def after_batch(self, batch: Batch) -> None:
        self.buffer.add(batch.x, batch.y)
