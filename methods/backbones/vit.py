"""Vision Transformers with attachment points for parameter-efficient modules.

:class:`PEFTViT` wraps a timm ``VisionTransformer`` and runs it with, optionally, input
prompts, prefix prompts in chosen blocks, adapters parallel to the MLPs and LoRA on the
qkv projections (see :mod:`methods.backbones.peft`). It takes uint8 images of any size and
channel count and turns them into network input with one of the pipelines of
:mod:`methods.backbones.vit_input`: ``reference`` (random resized crops and flips while the
module is in training mode, resize 256 + centre crop 224 otherwise, values in [0, 1]) or
``club`` ([−1, 1], bilinear resize, no augmentation). A float tensor is taken to be network
input already (:meth:`PEFTViT.prepare` applied once, so that several passes over one batch
see the same random crop).

Names and the exact timm (≥ 0.9) weights they load:

- ``vit_base_patch16_224``: ``vit_base_patch16_224.augreg_in21k_ft_in1k``, the file that name
  loaded in timm 0.6.12, which LAMDA-PILOT and CVPR24-Ease pin (ImageNet-21k AugReg
  pre-training, ImageNet-1k fine-tuning; timm ≥ 0.9 gives the name another file,
  ``augreg2_in21k_ft_in1k``, that no reference used);
- ``vit_base_patch16_224_in21k``: ``vit_base_patch16_224.augreg_in21k`` (AugReg, 21k only), the
  file ``vit_base_patch16_224_in21k`` loaded in timm 0.6.12 (CVPR24-Ease's in21k runs);
- ``vit_base_patch16_224_orig_in21k``: ``vit_base_patch16_224.orig_in21k``, the original
  ImageNet-21k ``ViT-B_16.npz`` of the ViT paper, which google-research/l2p and its PyTorch
  port JH-LEE-KR/l2p-pytorch load;
- ``vit_tiny_club``: a 3-block, width-64 ViT sized for the input (2×2 patches of side
  H/2, plus [CLS]) for the embedded 8×8 digits. It has no pre-trained weights: it is
  randomly initialised (timm's ViT init, from the run's seed) and recorded as
  ``vit_tiny_club:random-init``. Frozen, its [CLS] feature still separates the digits
  (nearest class mean ≈ 0.69 accuracy), enough to exercise every method on CPU in seconds.

Real weights come from the Hugging Face cache or hub. When they are absent and cannot be
downloaded (``HF_HUB_OFFLINE`` set, or huggingface.co unreachable, checked in ≤ 3 s instead
of timm's minute of retries) :class:`WeightsUnavailable` says so in one line; with
``pretrained=False`` the same architecture is randomly initialised instead.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..base import MethodError
from .vit_input import PIPELINES, club_view, evaluation_view, training_view, unit_range
from .vit_names import TIMM_TAGS, TINY, VIT_NAMES

if TYPE_CHECKING:  # timm (and the torchvision it imports) is imported when a ViT is built
    from timm.models.vision_transformer import VisionTransformer

TINY_CONFIG = {"embed_dim": 64, "depth": 3, "num_heads": 4, "mlp_ratio": 2.0}


class WeightsUnavailable(MethodError):
    """Pre-trained weights are neither cached nor downloadable."""


class PEFTViT(nn.Module):
    """A frozen-or-not timm ViT whose forward pass accepts PEFT hooks; ``out_dim`` = width.

    ``weights`` is the exact tag of the weights loaded (``…:random-init`` when none were);
    ``pipeline`` the input pipeline (:data:`~methods.backbones.vit_input.PIPELINES`).
    """

    def __init__(self, vit: VisionTransformer, weights: str, pipeline: str = "club") -> None:
        super().__init__()
        if pipeline not in PIPELINES:
            raise ValueError(f"input_pipeline must be one of {', '.join(PIPELINES)}, got {pipeline!r}")
        self.vit = vit
        self.weights = weights
        self.pipeline = pipeline
        self.out_dim = vit.embed_dim
        self.depth = len(vit.blocks)
        self.num_prefix_tokens = vit.num_prefix_tokens
        self.img_size = tuple(vit.patch_embed.img_size)
        self.in_chans = vit.patch_embed.proj.in_channels

    def seal(self) -> None:
        """Record that this ViT is final (frozen, on its device, in its dtype): while its weights
        stay as they are now, :meth:`frozen_reference` describes it by the recipe it was built
        from and the SHA-256 of its weights, and checkpoints store that instead of the weights."""
        self.__dict__["_sealed"] = (self._state_key(), weights_sha256(self))

    def frozen_reference(self) -> "FrozenViT | None":
        """How to rebuild this ViT exactly (:class:`FrozenViT`), or ``None`` when it was not built
        by :func:`build_vit` and sealed, is trained, or its weights changed since it was sealed."""
        sealed, recipe = self.__dict__.get("_sealed"), self.__dict__.get("recipe")
        if sealed is None or recipe is None or any(p.requires_grad for p in self.parameters()):
            return None
        key, digest = sealed
        if self._state_key() != key:  # moved or written in place since: equal only if the values are
            if weights_sha256(self) != digest:
                return None
            self.__dict__["_sealed"] = (self._state_key(), digest)
        dtype = str(next(self.parameters()).dtype).removeprefix("torch.")
        return FrozenViT(*recipe, init_rng=self.init_rng, dtype=dtype, training=self.training, sha256=digest)

    def _state_key(self) -> tuple:
        """Where each weight lives and how often it was written in place (cheap to compare)."""
        return tuple((t.data_ptr(), t._version) for t in (*self.parameters(), *self.buffers()))

    @property
    def augments(self) -> bool:
        """Whether :meth:`prepare` draws a random view (training mode, ``reference`` pipeline)."""
        return self.training and self.pipeline != "club"

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images → float network input of the ViT's channel count and size, through the
        input pipeline (augmented in training mode with ``reference``); float input is returned
        as it is (it has been prepared already)."""
        if x.dtype != torch.uint8:
            return x
        x = unit_range(x, self.in_chans)
        if self.pipeline == "club":
            return club_view(x, self.img_size)
        view = training_view if self.training else evaluation_view
        return view(x, self.img_size[0])

    def forward_tokens(
        self,
        x: torch.Tensor,
        prompts: torch.Tensor | None = None,
        prefixes: dict | None = None,
        adapters: dict | None = None,
        lora: dict | None = None,
    ) -> torch.Tensor:
        """All output tokens (B×T×D) after the final norm. Prompts (B×L×D, no position
        embedding) sit right after [CLS] at positions ``1..L``; ``prefixes[i] = (k, v)``
        (B×L×D each), ``adapters[i](h)`` and ``lora[i](x)`` apply to block ``i``."""
        vit = self.vit
        x = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(self.prepare(x)))))
        if prompts is not None:
            n = self.num_prefix_tokens
            x = torch.cat([x[:, :n], prompts.to(x.dtype), x[:, n:]], dim=1)
        prefixes, adapters, lora = prefixes or {}, adapters or {}, lora or {}
        for i, block in enumerate(vit.blocks):
            if i in prefixes or i in adapters or i in lora:
                x = _block_forward(block, x, prefixes.get(i), adapters.get(i), lora.get(i))
            else:
                x = block(x)
        return vit.norm(x)

    def forward(self, x: torch.Tensor, **hooks) -> torch.Tensor:
        """The pre-logit [CLS] feature (B×D)."""
        return self.forward_tokens(x, **hooks)[:, 0]


def _block_forward(block: nn.Module, x: torch.Tensor, prefix, adapter, lora) -> torch.Tensor:
    """timm ``Block.forward`` with a prefix in attention, LoRA on qkv and a parallel adapter."""
    h = x + block.drop_path1(block.ls1(_attention(block.attn, block.norm1(x), prefix, lora)))
    out = h + block.drop_path2(block.ls2(block.mlp(block.norm2(h))))
    return out if adapter is None else out + adapter(h)


def _attention(attn: nn.Module, x: torch.Tensor, prefix, lora) -> torch.Tensor:
    """timm ``Attention.forward`` with ``lora(x)`` added to qkv and prefix keys/values prepended."""
    b, n, _ = x.shape
    qkv = attn.qkv(x)
    if lora is not None:
        qkv = qkv + lora(x).to(qkv.dtype)
    q, k, v = qkv.reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    if prefix is not None:
        pk, pv = (t.to(k.dtype).reshape(b, -1, attn.num_heads, attn.head_dim).transpose(1, 2) for t in prefix)
        k, v = torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=attn.attn_drop.p if attn.training else 0.0)
    out = attn.norm(out.transpose(1, 2).reshape(b, n, -1))
    if getattr(attn, "gate", None) is not None:
        raise MethodError("gated attention ViTs are not supported by the PEFT hooks")
    return attn.proj_drop(attn.proj(out))


def build_vit(name: str, input_shape: tuple[int, int, int], pretrained: bool = True, pipeline: str = "club") -> PEFTViT:
    """The ViT called ``name`` (one of :data:`VIT_NAMES`) for images of shape C×H×W, fed by
    input pipeline ``pipeline``. It remembers how it was built (``recipe``, and the CPU
    generator's state its weights were initialised from), so that :meth:`PEFTViT.seal` can
    describe it by that recipe instead of by its weights."""
    init_rng = torch.get_rng_state()
    vit = _build_vit(name, input_shape, pretrained, pipeline)
    vit.recipe = (name, tuple(input_shape), pretrained, pipeline)
    vit.init_rng = init_rng
    return vit


def _build_vit(name: str, input_shape: tuple[int, int, int], pretrained: bool, pipeline: str) -> PEFTViT:
    import timm

    if name == TINY:
        return _tiny_vit(input_shape, pipeline)
    if name not in TIMM_TAGS:
        raise ValueError(f"unknown ViT {name!r}; choose from {', '.join(VIT_NAMES)}")
    tag = TIMM_TAGS[name]
    if not pretrained:
        return PEFTViT(timm.create_model(tag, pretrained=False, num_classes=0), f"{tag}:random-init", pipeline)
    _check_downloadable(tag)
    try:
        vit = timm.create_model(tag, pretrained=True, num_classes=0)
    except Exception as e:  # noqa: BLE001 - any hub/IO failure is the same user-facing problem
        raise WeightsUnavailable(f"could not load pretrained weights {tag}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} (or --set pretrained=false)") from None
    return PEFTViT(vit, tag, pipeline)


def _check_downloadable(tag: str) -> None:
    """Fail fast when ``tag`` is not cached and the hub cannot be reached."""
    import timm

    hub_id = timm.models.get_pretrained_cfg(tag).hf_hub_id
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = any(isinstance(try_to_load_from_cache(hub_id, f), str) for f in ("model.safetensors", "pytorch_model.bin"))
    except ImportError:
        cached = False
    if cached:
        return
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    if offline or not _reachable("huggingface.co"):
        raise WeightsUnavailable(
            f"pretrained weights {tag} are not in the Hugging Face cache and cannot be downloaded "
            f"({'HF_HUB_OFFLINE is set' if offline else 'huggingface.co unreachable'}); fetch them once online with "
            f"python -c \"import timm; timm.create_model('{tag}', pretrained=True)\", or run with --set pretrained=false"
        )


def _reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _tiny_vit(input_shape: tuple[int, int, int], pipeline: str) -> PEFTViT:
    from timm.models.vision_transformer import VisionTransformer

    c, h, _ = input_shape
    vit = VisionTransformer(img_size=h, patch_size=max(1, h // 2), in_chans=c, num_classes=0, **TINY_CONFIG)
    return PEFTViT(vit, f"{TINY}:random-init", pipeline)


def weights_sha256(module: nn.Module) -> str:
    """SHA-256 of a module's state: every parameter and buffer, by name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class FrozenViT:
    """A sealed frozen ViT described by how to rebuild it: :func:`build_vit`'s arguments, the CPU
    generator state its weights were initialised from (random-init weights are drawn from it;
    pre-trained ones come from the weights file), its dtype and mode, and the SHA-256 its weights
    must have (:func:`weights_sha256`)."""

    name: str
    input_shape: tuple[int, int, int]
    pretrained: bool
    pipeline: str
    init_rng: torch.Tensor
    dtype: str
    training: bool
    sha256: str

    def rebuild(self, device: torch.device) -> PEFTViT:
        """The same ViT on ``device``, built again and checked against :attr:`sha256`; the global
        RNG is left as it was."""
        state = torch.get_rng_state()
        try:
            torch.set_rng_state(self.init_rng)
            vit = build_vit(self.name, self.input_shape, self.pretrained, self.pipeline)
        finally:
            torch.set_rng_state(state)
        vit = vit.requires_grad_(False).to(device=device, dtype=getattr(torch, self.dtype)).train(self.training)
        if weights_sha256(vit) != self.sha256:
            raise MethodError(
                f"the frozen backbone {vit.weights} built again for this checkpoint differs from the one it was saved "
                f"with (SHA-256 {self.sha256[:12]}…): its weights file or timm changed since the run started"
            )
        vit.seal()
        return vit
