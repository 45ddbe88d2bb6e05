"""Losses of gradient-based unlearning, shared by the image and the language-model tracks.

Every function takes per-sample negative log-likelihoods ``nll`` (shape B). For a
classifier that is the per-sample cross-entropy; for a language model it is the **sum**
over answer tokens of −log π_θ (prompt tokens masked), as NPO requires.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sequence_nll(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Per-sequence sum of next-token NLL: logits B×L×V predict labels shifted by one.

    Positions whose label is ``ignore_index`` (the prompt, padding) do not count.
    """
    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    token_nll = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1), ignore_index=ignore_index, reduction="none"
    )
    return token_nll.view(shift_labels.shape).sum(1)


def gradient_ascent_loss(nll: torch.Tensor) -> torch.Tensor:
    """L_GA = −mean(ℓ_θ): minimising it raises the forget set's NLL without bound."""
    return -nll.mean()


def npo_loss(nll: torch.Tensor, reference_nll: torch.Tensor, beta: float) -> torch.Tensor:
    """L_NPO = −(2/β)·mean log σ(β·(ℓ_θ − ℓ_ref)) = (2/β)·mean softplus(β·(ℓ_ref − ℓ_θ)).

    Source: Zhang, Lin, Bai, Mei, "Negative Preference Optimization", 2024 (Eq. 3), with
    ℓ the per-sequence summed NLL and ℓ_ref that of the frozen pre-unlearning model. Its
    gradient is GA's scaled by 2σ(β(ℓ_ref − ℓ_θ)), which vanishes once a sample is forgotten;
    as β → 0 it becomes GA's.
    """
    return (2.0 / beta) * F.softplus(beta * (reference_nll.detach() - nll)).mean()
