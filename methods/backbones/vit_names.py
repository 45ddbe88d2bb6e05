"""The ViT names CLUB knows and the timm weights each loads (see :mod:`methods.backbones.vit`),
importable without timm."""

from __future__ import annotations

TIMM_TAGS = {
    "vit_base_patch16_224": "vit_base_patch16_224.augreg_in21k_ft_in1k",
    "vit_base_patch16_224_in21k": "vit_base_patch16_224.augreg_in21k",
    "vit_base_patch16_224_orig_in21k": "vit_base_patch16_224.orig_in21k",
}
TINY = "vit_tiny_club"
VIT_NAMES = (*TIMM_TAGS, TINY)
