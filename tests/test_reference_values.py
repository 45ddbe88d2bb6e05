"""The reference values of the recipes, each pinned to the file it was read from."""

import pytest
import timm
import torch

from methods import StreamInfo, get_method
from methods.backbones.vit import TIMM_TAGS
from methods.configs import method_config

EASE = "sun-hailong/CVPR24-Ease exps/ease_{}_in21k.json"
VIT_PRESETS = ["imagenet-r-b0inc20", "imagenet-a-b0inc20", "cub-b0inc10", "omnibenchmark-b0inc30", "vtab-b0inc10"]


def entry(method: str, preset: str) -> dict:
    return method_config(method).presets[preset]


def pinned(method: str, preset: str, source_part: str, **values) -> None:
    """Each value equals the config's, and its recorded source names ``source_part``."""
    e = entry(method, preset)
    for key, value in values.items():
        assert e[key].value == value, (method, preset, key)
        assert source_part in e[key].source, (method, preset, key, e[key].origin)


@pytest.mark.parametrize(
    "preset,config,values",
    [
        ("cub-b0inc10", "cub", dict(lr=0.008, batch_size=32, weight_decay=0.0005, alpha=0.05, use_init_ptm=False, epochs=20, rank=64)),
        ("omnibenchmark-b0inc30", "omni", dict(lr=0.01, batch_size=16, weight_decay=0.0005, alpha=1, use_init_ptm=True, beta=1, adapter_num=1)),
        ("vtab-b0inc10", "vtab", dict(lr=0.03, rank=16, epochs=45, batch_size=16, weight_decay=0.005)),
        ("imagenet-a-b0inc20", "ina", dict(batch_size=32, lr=0.05, weight_decay=0.005, epochs=20)),
        ("imagenet-r-b0inc20", "inr", dict(batch_size=16, lr=0.05, weight_decay=0.005, epochs=20)),
        ("cifar100-b0inc5", "cifar", dict(batch_size=48, lr=0.025, weight_decay=0.0005, epochs=20, alpha=0.1)),
    ],
)
def test_ease_presets_are_the_in21k_configs(preset, config, values):
    pinned("ease", preset, EASE.format(config), backbone="vit_base_patch16_224_in21k", adapter_num=values.pop("adapter_num", -1), **values)
    assert entry("ease", preset)["input_pipeline"].value == "reference"


def test_ease_refuses_the_forget_presets():
    config = method_config("ease")
    assert set(config.refused) == {"cifar10-forget-class", "cifar10-forget-random", "cifar100-forget-class", "cifar20-forget-subclass", "cifar100-b0inc10-forget"}


def test_weight_tags_are_the_files_the_references_loaded():
    assert TIMM_TAGS == {
        "vit_base_patch16_224": "vit_base_patch16_224.augreg_in21k_ft_in1k",
        "vit_base_patch16_224_in21k": "vit_base_patch16_224.augreg_in21k",
        "vit_base_patch16_224_orig_in21k": "vit_base_patch16_224.orig_in21k",
    }
    available = set(timm.list_pretrained("vit_base_patch16_224*"))
    assert set(TIMM_TAGS.values()) <= available
    # the AugReg files timm 0.6.12 gave "vit_base_patch16_224" and "vit_base_patch16_224_in21k" (what PILOT and EASE pin)
    augreg = "https://storage.googleapis.com/vit_models/augreg/B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0"
    assert timm.models.get_pretrained_cfg(TIMM_TAGS["vit_base_patch16_224"]).url == augreg + "--imagenet2012-steps_20k-lr_0.01-res_224.npz"
    assert timm.models.get_pretrained_cfg(TIMM_TAGS["vit_base_patch16_224_in21k"]).url == augreg + ".npz"
    assert timm.models.get_pretrained_cfg(TIMM_TAGS["vit_base_patch16_224_orig_in21k"]).hf_hub_id == "timm/vit_base_patch16_224.orig_in21k"


def test_each_method_loads_the_weights_its_reference_used():
    for preset in ["cifar100-b0inc10", "cifar100-b0inc5", "cifar100-b50inc10"]:
        assert entry("l2p", preset)["backbone"].value == "vit_base_patch16_224_orig_in21k"  # the port's ViT-B_16.npz
    assert entry("l2p", "imagenet-r-b0inc20")["backbone"].value == "vit_base_patch16_224"  # LAMDA-PILOT
    for preset in ["cifar100-b0inc10", *VIT_PRESETS]:
        assert entry("simplecil", preset)["backbone"].value == "vit_base_patch16_224_in21k"  # its authors' configs
        assert entry("finetune-vit", preset)["backbone"].value == "vit_base_patch16_224"
        assert entry("ease", preset)["backbone"].value == "vit_base_patch16_224_in21k"
        for method in ["simplecil", "finetune-vit", "ease", "l2p"]:
            assert entry(method, preset)["input_pipeline"].value == "reference"


def test_simplecil_values():
    pinned("simplecil", "vtab-b0inc10", "zhoudw-zdw/RevisitingCIL exps/simplecil/vtab_10_10_vit-b_simplecil.json", backbone="vit_base_patch16_224_in21k")
    pinned("simplecil", "cub-b0inc10", "zhoudw-zdw/RevisitingCIL exps/simplecil/cub_10_10_vit-b_simplecil.json", backbone="vit_base_patch16_224_in21k")


def test_l2p_values():
    pinned("l2p", "cifar100-b0inc10", "JH-LEE-KR/l2p-pytorch", epochs=5, batch_size=16, lr=0.001875, pool_size=10, length=5, top_k=5, pull_weight=0.1, max_grad_norm=1.0)
    pinned("l2p", "imagenet-r-b0inc20", "LAMDA-PILOT", epochs=10, batch_size=32, lr=0.001875, max_grad_norm=0.0)
    assert entry("l2p", "cifar100-b0inc10")["batchwise_prompt"].club  # CLUB's own: no test-time batch vote


def test_pec_values():
    pinned("pec", "cifar100-b0inc10", "michalzajac-ml/pec scripts/table1/cifar100/pec.sh", arch="cnn", width=40, pool=4, output_dim=172, lr=0.001, epochs=1, batch_size=1)
    pinned("pec", "cifar10-b0inc2", "michalzajac-ml/pec scripts/table1/cifar10/pec.sh", width=60, pool=5, output_dim=743, lr=0.0003)
    assert "miniimagenet/pec.sh" in entry("pec", "miniimagenet-fscil")["lr"].club


def test_upgd_and_its_baselines():
    cifar, emnist, mnist = "statistics_output_permuted_cifar10.py", "statistics_output_permuted_emnist.py", "statistics_input_permuted_mnist.py"
    pinned("upgd", "cifar10-label-permuted", cifar, lr=0.01, beta_utility=0.999, sigma=0.001, weight_decay=0.0, backbone="lenet")
    pinned("upgd", "emnist-label-permuted", emnist, beta_utility=0.9, sigma=0.001)
    pinned("upgd", "mnist-input-permuted", mnist, lr=0.01, beta_utility=0.9999, sigma=0.1, weight_decay=0.01)
    pinned("sgd", "cifar10-label-permuted", cifar, lr=0.01, weight_decay=0.001, momentum=0.0)
    pinned("sgd", "mnist-input-permuted", mnist, lr=0.001, weight_decay=0.001)
    pinned("adam", "cifar10-label-permuted", cifar, lr=0.001, weight_decay=0.01, beta1=0.0, beta2=0.9999)
    assert entry("adam", "cifar10-label-permuted")["optimizer"].value == "adamw"  # decoupled decay, core/optim/adam.py


def test_adam_baseline_builds_the_optimiser_its_values_name():
    info = StreamInfo((1, 8, 8), 10, 5, "mlp")
    method = get_method("adam")(info, torch.device("cpu"), optimizer="adamw", beta1=0.0, beta2=0.99, weight_decay=0.1)
    optimizer = method.make_optimizer()
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["betas"] == (0.0, 0.99)
    assert optimizer.defaults["weight_decay"] == 0.1


def test_teen_values():
    pinned("teen", "cifar100-fscil", "wangkiw/TEEN scripts/cifar.sh", alpha=0.1, tau=16.0, temperature=16.0, lr=0.1, batch_size=256)
    pinned("teen", "miniimagenet-fscil", "wangkiw/TEEN", temperature=32.0, lr=0.1, batch_size=128)
    pinned("teen", "cub200-fscil", "wangkiw/TEEN scripts/cub.sh", temperature=32.0, lr=0.004, alpha=0.5)
    assert entry("teen", "cifar100-fscil")["epochs"].value == 600 and "cosine" in entry("teen", "cifar100-fscil")["epochs"].club
