"""The ViT input pipelines: the references' train and test transforms on tensors, and CLUB's own."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from methods import StreamInfo, get_method
from methods.backbones import build_vit
from methods.backbones.vit_input import club_view, crop_boxes, evaluation_view, training_view, unit_range

CPU = torch.device("cpu")


def images(n: int, size: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_training_view_is_exactly_crop_then_resize_then_flip():
    x = unit_range(images(24, 40), 3)
    torch.manual_seed(1)
    out = training_view(x, 32)
    torch.manual_seed(1)
    boxes, flip = crop_boxes(24, 40, 40), torch.rand(24) < 0.5
    assert (boxes[:, 2] > 32).any() and (boxes[:, 2] <= 32).any() and flip.any() and not flip.all()  # both paths, both sides
    for i in range(24):
        top, left, h, w = boxes[i].tolist()
        shrink = h > 32 or w > 32
        expected = F.interpolate(x[i : i + 1, :, top : top + h, left : left + w], size=(32, 32), mode="bilinear", align_corners=False, antialias=shrink)[0]
        expected = expected.flip(-1) if flip[i] else expected
        assert torch.allclose(out[i], expected, atol=1e-5), i


def test_crop_boxes_follow_random_resized_crop():
    """Same distribution as torchvision's RandomResizedCrop.get_params (retries bias it to smaller crops)."""
    from torchvision.transforms import RandomResizedCrop

    torch.manual_seed(0)
    top, left, h, w = crop_boxes(4000, 224, 224).unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 224).all() and (left + w <= 224).all()
    area, aspect = (h * w).float() / 224**2, w.float() / h.float()
    reference = torch.tensor(
        [h * w / 224**2 for _, _, h, w in (RandomResizedCrop.get_params(torch.zeros(3, 224, 224), (0.05, 1.0), (3 / 4, 4 / 3)) for _ in range(4000))]
    )
    assert area.min() >= 0.045 and area.max() <= 1.0 and aspect.min() >= 0.74 and aspect.max() <= 1.35
    assert area.mean() == pytest.approx(reference.mean().item(), abs=0.02)
    assert area.std() == pytest.approx(reference.std().item(), abs=0.02)
    centre = (top + h / 2).float() / 224
    assert centre.mean() == pytest.approx(0.5, abs=0.02)


def test_training_view_shapes_range_and_seed():
    x = unit_range(images(8, 32), 3)
    torch.manual_seed(3)
    first = training_view(x, 224)
    torch.manual_seed(3)
    again = training_view(x, 224)
    other = training_view(x, 224)
    assert first.shape == (8, 3, 224, 224) and first.dtype == torch.float32
    assert first.min() >= 0.0 and first.max() <= 1.0
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_evaluation_view_is_resize_256_bicubic_and_centre_crop_224():
    """Against PIL (what the references' torchvision transforms run) on a smooth image."""
    yy, xx = np.mgrid[0:224, 0:224]
    picture = np.stack([128 + 100 * np.sin(xx / 17.0), 128 + 100 * np.cos(yy / 23.0), (xx + yy) / 2], -1).astype(np.uint8)
    pil = Image.fromarray(picture).resize((256, 256), Image.BICUBIC).crop((16, 16, 240, 240))
    expected = torch.from_numpy(np.asarray(pil).astype(np.float32) / 255).permute(2, 0, 1)
    out = evaluation_view(unit_range(torch.from_numpy(picture).permute(2, 0, 1)[None], 3), 224)[0]
    assert out.shape == (3, 224, 224) and out.min() >= 0.0 and out.max() <= 1.0
    assert (out - expected).abs().max() < 2.5 / 255 and (out - expected).abs().mean() < 0.5 / 255


def test_evaluation_view_keeps_aspect_and_takes_the_centre():
    x = unit_range(images(2, 64), 3)[:, :, :, :48]  # 64 high, 48 wide
    out = evaluation_view(x, 32)  # shorter side → int(32·256/224) = 36, longer → 48, centre 32×32
    resized = F.interpolate(x, size=(48, 36), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    assert torch.allclose(out, resized[:, :, 8:40, 2:34])


def test_club_view_is_minus_one_to_one_bilinear():
    x = unit_range(images(2, 8, channels=1), 3)
    out = club_view(x, (16, 16))
    assert out.shape == (2, 3, 16, 16) and out.min() >= -1.0 and out.max() <= 1.0 and out.min() < -0.5
    assert torch.allclose(out, F.interpolate(x * 2 - 1, size=(16, 16), mode="bilinear", align_corners=False))


def test_vit_augments_only_in_training_mode():
    vit = build_vit("vit_tiny_club", (3, 32, 32), pipeline="reference")
    x = images(6, 32)
    vit.eval()
    assert torch.equal(vit.prepare(x), vit.prepare(x)) and torch.equal(vit.prepare(x), evaluation_view(unit_range(x, 3), 32))
    vit.train()
    a, b = vit.prepare(x), vit.prepare(x)
    assert a.shape == (6, 3, 32, 32) and not torch.equal(a, b) and a.min() >= 0.0 and a.max() <= 1.0
    assert vit.prepare(a) is a  # float input is network input already


def test_club_pipeline_is_the_same_in_both_modes():
    vit = build_vit("vit_tiny_club", (1, 8, 8))
    x = images(4, 8, channels=1)
    vit.train()
    train = vit.prepare(x)
    vit.eval()
    assert torch.equal(train, vit.prepare(x)) and train.min() < 0


def test_unknown_pipeline_is_refused():
    info = StreamInfo((1, 8, 8), 10, 5, "mlp")
    with pytest.raises(ValueError, match="input_pipeline must be one of reference, club"):
        get_method("simplecil")(info, CPU, input_pipeline="bogus")


def test_l2p_query_and_prompted_pass_share_one_random_view(monkeypatch):
    import methods.backbones.vit as vit_module

    calls = []
    original = vit_module.training_view
    monkeypatch.setattr(vit_module, "training_view", lambda x, size: calls.append(len(x)) or original(x, size))
    info = StreamInfo((3, 32, 32), 4, 2, "small_cnn")
    torch.manual_seed(0)
    method = get_method("l2p")(info, CPU, input_pipeline="reference", epochs=1, batch_size=8)
    method.model.train()
    method.current = [0, 1]
    method.loss(images(8, 32), torch.tensor([0, 1] * 4), None)
    assert calls == [8]  # one augmented view per batch, used by the query and by the prompts
