"""A method defined outside CLUB, loaded with ``--plugin examples/frozen_backbone.py``.

It subclasses the built-in ``finetune`` through the public API: after the first step the
backbone is frozen and only the linear head keeps training.

    python -m benchmarks.run --method frozen-backbone --plugin examples/frozen_backbone.py
"""

from __future__ import annotations

from methods import get_method, register_method
from scenarios import Step


@register_method("frozen-backbone")
class FrozenBackbone(get_method("finetune")):
    """Fine-tune everything on the first step, then the head only."""

    def learn(self, step: Step) -> None:
        if step.index == 1:
            self.model.backbone.requires_grad_(False)
        super().learn(step)
