"""Input pipelines of the ViT backbones: stored images (uint8, N×C×H×W) → network input.

``reference``, the pipeline of the pre-trained-model continual-learning references
(sun-hailong/LAMDA-PILOT and sun-hailong/CVPR24-Ease ``utils/data.py`` ``build_transform``;
JH-LEE-KR/l2p-pytorch ``datasets.py`` ``build_transform``), for a network of input size S:

- training: ``RandomResizedCrop(S, scale=(0.05, 1), ratio=(3/4, 4/3))`` (bilinear), then a
  horizontal flip with probability 0.5;
- evaluation: ``Resize(int(S·256/224), bicubic)`` of the shorter side, then ``CenterCrop(S)``;
- values in [0, 1] (``ToTensor``), without normalisation.

It runs on the tensors of a batch, on their device: every sample gets its own crop, all
resampled by one ``grid_sample`` call whose sampling points are those of bilinear
``interpolate`` on the cropped image, so a crop is exactly "crop, then resize" (crops larger
than S, which need antialiasing when shrunk, are resized one by one). Crop boxes follow
torchvision's ``RandomResizedCrop.get_params`` (ten tries, then the central crop), drawn from
the global torch CPU generator, so a seed fixes them on any device. The stored images of the
image-folder sources are already the central square of the original, so crops and the test
view are taken from that square (the references crop the full image).

``club``: CLUB's earlier pipeline, kept selectable: values in [−1, 1] (mean and std 0.5, those
the timm ViT-B/16 weights were trained with) and a bilinear resize to S, with no augmentation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

PIPELINES = ("reference", "club")
SCALE = (0.05, 1.0)
RATIO = (3.0 / 4.0, 4.0 / 3.0)
TRIES = 10


def unit_range(x: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 images → float in [0, 1] with ``channels`` channels (grey repeated, colour averaged)."""
    x = x.float() / 255.0
    if x.shape[1] != channels:
        x = x.expand(-1, channels, -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
    return x


def club_view(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[0, 1] images → [−1, 1], resized bilinearly to ``size``."""
    x = x * 2.0 - 1.0
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x


def evaluation_view(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize(int(size·256/224), bicubic) of the shorter side, CenterCrop(size); values kept in [0, 1]."""
    height, width = x.shape[-2:]
    short = int(size * 256 / 224)
    new = (short, int(short * width / height)) if height <= width else (int(short * height / width), short)
    x = F.interpolate(x, size=new, mode="bicubic", align_corners=False, antialias=True)
    top, left = int(round((new[0] - size) / 2.0)), int(round((new[1] - size) / 2.0))
    return x[..., top : top + size, left : left + size].clamp(0.0, 1.0)


def crop_boxes(n: int, height: int, width: int) -> torch.Tensor:
    """``n`` boxes (top, left, h, w) of torchvision's ``RandomResizedCrop.get_params`` with
    scale (0.05, 1) and ratio (3/4, 4/3): the first of ten random tries that fits, else the
    central crop of the clamped aspect ratio."""
    area = torch.empty(n, TRIES).uniform_(*SCALE) * (height * width)
    aspect = torch.exp(torch.empty(n, TRIES).uniform_(math.log(RATIO[0]), math.log(RATIO[1])))
    w = torch.round(torch.sqrt(area * aspect)).long()
    h = torch.round(torch.sqrt(area / aspect)).long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.int().argmax(1)
    w, h = w.gather(1, first[:, None])[:, 0], h.gather(1, first[:, None])[:, 0]
    top = (torch.rand(n) * (height - h + 1)).long()
    left = (torch.rand(n) * (width - w + 1)).long()
    fallback = ~fits.any(1)
    if fallback.any():
        in_ratio = width / height
        fw, fh = width, height
        if in_ratio < RATIO[0]:
            fh = int(round(width / RATIO[0]))
        elif in_ratio > RATIO[1]:
            fw = int(round(height * RATIO[1]))
        w[fallback], h[fallback] = fw, fh
        top[fallback], left[fallback] = (height - fh) // 2, (width - fw) // 2
    return torch.stack([top, left, h, w], 1)


def _axis(start: torch.Tensor, length: torch.Tensor, size: int, extent: int) -> torch.Tensor:
    """Normalised ``grid_sample`` coordinates (B×size) of bilinear ``interpolate`` from the span
    [start, start + length) of an axis of ``extent`` pixels to ``size`` pixels."""
    u = torch.arange(size, dtype=torch.float32, device=start.device)
    src = start[:, None] + ((u[None] + 0.5) * length[:, None] / size - 0.5).clamp_min(0.0)
    src = torch.minimum(src, (start + length - 1)[:, None].float())
    return (2.0 * src + 1.0) / extent - 1.0


def training_view(x: torch.Tensor, size: int) -> torch.Tensor:
    """RandomResizedCrop(size, scale=(0.05, 1), ratio=(3/4, 4/3)) then a random horizontal flip
    (p = 0.5), each sample its own; [0, 1] in, [0, 1] out."""
    n, _, height, width = x.shape
    boxes = crop_boxes(n, height, width)
    flip = torch.rand(n) < 0.5
    top, left, h, w = boxes.to(x.device).unbind(1)
    gx = _axis(left, w, size, width)
    gx = torch.where(flip.to(x.device)[:, None], gx.flip(1), gx)
    gy = _axis(top, h, size, height)
    grid = torch.stack([gx[:, None, :].expand(-1, size, -1), gy[:, :, None].expand(-1, -1, size)], dim=-1)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    for i in ((boxes[:, 2] > size) | (boxes[:, 3] > size)).nonzero().flatten().tolist():
        t, l, hh, ww = boxes[i].tolist()
        crop = F.interpolate(x[i : i + 1, :, t : t + hh, l : l + ww], size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[i] = crop[0].flip(-1) if flip[i] else crop[0]
    return out
