"""FCN / VGG16 in MMSegmentation: registry names, EncoderDecoder loss/predict sizes, mixing with
mmseg's own ASPPHead, pretrained loading errors, configs, and a short training through
tools/train.py that lowers the loss and beats a constant predictor.

Reduced widths (documented in each test) keep VGG16 affordable on a 2-core CPU; the full-size
network is covered by tests/test_fcn.py (parameter count, shapes on the meta device).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mmseg")

from mmengine.config import Config, ConfigDict  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

register_all_modules()
import segclassics.mmseg  # noqa: E402,F401
from helpers import REPO, data_root_overrides  # noqa: E402
from segclassics.models.fcn import count_parameters  # noqa: E402
from segclassics.utils.checkpoint import CheckpointMismatchError  # noqa: E402

TINY_BACKBONE = dict(type="VGG16", conv1_1_padding=100, widths=(4, 4, 8, 8, 8), fc_channels=8)
PRE = dict(type="SegDataPreProcessor", mean=[0, 0, 0], std=[1, 1, 1], pad_val=0, seg_pad_val=255)


def _segmentor(head: dict, backbone: dict = TINY_BACKBONE, test_cfg=None):
    return MODELS.build(
        ConfigDict(
            type="EncoderDecoder",
            data_preprocessor=PRE,
            backbone=backbone,
            decode_head=head,
            train_cfg=dict(),
            test_cfg=test_cfg or dict(mode="whole"),
        )
    )


def _samples(n, h, w, k):
    return [
        SegDataSample(
            gt_sem_seg=PixelData(data=torch.randint(0, k, (1, h, w))),
            metainfo=dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w)),
        )
        for _ in range(n)
    ]


def test_registered_names_do_not_clash_with_mmseg():
    import mmseg.models  # noqa: F401

    from segclassics.openmmlab.vgg16 import OpenMMLabVGG16

    assert MODELS.get("VGG16") is OpenMMLabVGG16
    assert MODELS.get("FCNSkipHead").__module__ == "segclassics.mmseg.fcn_skip_head"
    assert MODELS.get("FCNHead").__module__.startswith("mmseg.")  # mmseg's dilated-ResNet head is untouched


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
def test_encoder_decoder_loss_and_predict_sizes(variant):
    torch.manual_seed(0)
    model = _segmentor(
        dict(
            type="FCNSkipHead",
            variant=variant,
            in_channels=[8, 8, 8],
            num_classes=3,
            loss_decode=dict(type="CrossEntropyLoss", avg_non_ignore=True),
        )
    )
    x = torch.randn(2, 3, 45, 61)
    losses = model.loss(x, _samples(2, 45, 61, 3))
    # zero-initialised score layers: uniform softmax, loss = ln(3)
    assert losses["decode.loss_ce"].item() == pytest.approx(np.log(3), abs=1e-5)
    model.eval()
    out = model.predict(x, _samples(2, 45, 61, 3))
    assert out[0].seg_logits.data.shape == (3, 45, 61) and out[0].pred_sem_seg.data.shape == (1, 45, 61)
    # tensor mode (no image metas): top-left aligned logits covering the input
    logits = model(x, mode="tensor")
    assert logits.shape[-2] >= 45 and logits.shape[-1] >= 61


def test_predict_logits_are_the_plain_torch_network():
    """mmseg's predict == segclassics.models.fcn.FCN on the same weights (no resize, no shift)."""
    from segclassics.models.fcn import FCN

    torch.manual_seed(0)
    model = _segmentor(dict(type="FCNSkipHead", variant="8s", in_channels=[8, 8, 8], num_classes=3)).eval()
    with torch.no_grad():
        for p in model.decode_head.parameters():
            p.normal_(0, 0.1)
    ref = FCN(3, "8s", widths=(4, 4, 8, 8, 8), fc_channels=8).eval()
    ref.backbone.load_state_dict(model.backbone.state_dict())
    ref.decoder.load_state_dict(model.decode_head.module.state_dict())
    x = torch.randn(1, 3, 37, 50)
    with torch.no_grad():
        got = model.predict(x, _samples(1, 37, 50, 3))[0].seg_logits.data
        torch.testing.assert_close(got, ref(x)[0])


def test_network_input_size_from_metas():
    from segclassics.mmseg.torch_decode_head import network_input_size

    assert network_input_size([dict(img_shape=(37, 50), pad_shape=(40, 56))]) == (40, 56)
    assert network_input_size([dict(img_shape=(37, 50), pad_shape=None)]) == (37, 50)
    assert network_input_size([dict(img_shape=(37, 50, 3))]) == (37, 50)
    assert network_input_size([dict(img_shape=torch.Size([33, 21]), pad_shape=(50, 70))]) == (33, 21)


def test_predict_with_pad_shape_none_uses_img_shape():
    """Metas whose ``pad_shape`` is ``None`` predict like unpadded ones (it used to crash)."""
    torch.manual_seed(0)
    model = _segmentor(dict(type="FCNSkipHead", variant="8s", in_channels=[8, 8, 8], num_classes=3)).eval()
    x = torch.randn(1, 3, 37, 50)
    none = SegDataSample(metainfo=dict(img_shape=(37, 50), pad_shape=None, ori_shape=(37, 50)))
    with torch.no_grad():
        got = model.predict(x, [none])[0].seg_logits.data
        ref = model.predict(x, _samples(1, 37, 50, 3))[0].seg_logits.data
    assert got.shape == (3, 37, 50)
    assert torch.equal(got, ref)


def test_slide_inference_with_odd_crops():
    model = _segmentor(
        dict(type="FCNSkipHead", in_channels=[8, 8, 8], num_classes=3),
        test_cfg=dict(mode="slide", crop_size=(33, 33), stride=(21, 21)),
    ).eval()
    out = model.predict(torch.randn(1, 3, 50, 70), _samples(1, 50, 70, 3))
    assert out[0].seg_logits.data.shape == (3, 50, 70)


def test_mixing_our_vgg16_with_mmseg_aspp_head():
    """Our VGG16 (padded geometry, pool5 stride 32) feeding mmseg's own ASPPHead (DeepLab v3)."""
    backbone = dict(type="VGG16", with_fc=False, out_indices=("pool4", "pool5"), widths=(4, 4, 8, 8, 8))
    head = dict(
        type="ASPPHead",
        in_channels=8,
        in_index=1,
        channels=8,
        dilations=(1, 2, 3, 4),
        num_classes=4,
        dropout_ratio=0.0,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss"),
    )
    model = _segmentor(head, backbone=backbone)
    model.init_weights()
    x = torch.randn(2, 3, 64, 48)
    losses = model.loss(x, _samples(2, 64, 48, 4))
    losses["decode.loss_ce"].backward()
    assert model.backbone.conv1_1.weight.grad is not None
    model.eval()
    assert model.predict(x, _samples(2, 64, 48, 4))[0].seg_logits.data.shape == (4, 64, 48)


def test_pretrained_mismatch_and_missing_file(tmp_path):
    bad = tmp_path / "vgg_wrong_width.pth"
    from segclassics.models.vgg import VGG16

    torch.save(VGG16(widths=(4, 4, 4, 4, 4), fc_channels=8).state_dict(), bad)
    backbone = MODELS.build(dict(TINY_BACKBONE, pretrained=str(bad)))
    with pytest.raises(CheckpointMismatchError, match="conv3_1.weight"):
        backbone.init_weights()
    backbone = MODELS.build(dict(TINY_BACKBONE, pretrained=str(tmp_path / "absent.pth")))
    with pytest.raises(FileNotFoundError, match="segclassics.tools.convert_weights.vgg16_torchvision"):
        backbone.init_weights()
    good = tmp_path / "good.pth"
    ref = VGG16(widths=(4, 4, 8, 8, 8), fc_channels=8)
    torch.save({"state_dict": {"backbone." + k: v for k, v in ref.state_dict().items()}}, good)
    backbone = MODELS.build(dict(TINY_BACKBONE, pretrained=str(good)))
    backbone.init_weights()
    torch.testing.assert_close(backbone.fc6.weight, ref.fc6.weight)


@pytest.mark.parametrize(
    "name,variant,lr",
    [
        ("fcn32s_vgg16_voc12aug", "32s", 1e-10),
        ("fcn16s_vgg16_voc12aug", "16s", 1e-12),
        ("fcn8s_vgg16_voc12aug", "8s", 1e-14),
        ("fcn8s-atonce_vgg16_voc12aug", "8s", 1e-10),
        ("fcn32s_vgg16_voc12aug_cvpr", "32s", 1e-4),
    ],
)
def test_voc_configs_follow_the_reference_recipe(name, variant, lr):
    cfg = Config.fromfile(REPO / "configs" / "fcn" / f"{name}.py")
    head, opt = cfg.model.decode_head, cfg.optim_wrapper.optimizer
    assert head.variant == variant and head.num_classes == 21 and opt.lr == lr
    assert cfg.optim_wrapper.paramwise_cfg == dict(bias_lr_mult=2.0, bias_decay_mult=0.0)
    assert cfg.model.backbone.conv1_1_padding == 100 and cfg.model.backbone.fc6_padding == 0
    assert cfg.train_dataloader.batch_size == 1 and opt.weight_decay == 5e-4
    if name.endswith("cvpr"):
        assert opt.momentum == 0.9 and cfg.optim_wrapper.accumulative_counts == 20
        assert head.loss_decode.get("reduction", "mean") == "mean"
    else:
        assert opt.momentum == 0.99 and head.loss_decode.reduction == "sum"
    assert head.at_once == ("atonce" in name)


def test_fcn8s_voc_config_builds_the_paper_network():
    cfg = Config.fromfile(REPO / "configs" / "fcn" / "fcn8s-atonce_vgg16_voc12aug.py")
    with torch.device("meta"):
        model = MODELS.build(cfg.model)
    # 134,489,759 = the hand-written layer table of tests/helpers.py::paper_param_count('8s')
    from helpers import paper_param_count

    assert count_parameters(model) == paper_param_count("8s")


def test_voc_tiny_config(shared_data):
    root = shared_data("voc_tiny")
    cfg = Config.fromfile(REPO / "configs" / "fcn" / "fcn8s_vgg16_voc_tiny.py")
    assert (REPO / cfg.train_dataloader.dataset.data_root).resolve() == (root / "voc").resolve()
    from mmseg.registry import DATASETS

    cfg.train_dataloader.dataset.data_root = str(root / "voc")  # independent of the cwd
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(ds) == 3 and Path(ds[0]["data_samples"].img_path).parent.parent == root / "voc"
    labels = ds[0]["data_samples"].gt_sem_seg.data
    assert labels.max() <= 255 and set(labels.unique().tolist()) - {255} <= set(range(21))


@pytest.mark.slow
def test_short_training_lowers_loss_and_beats_constant(run_tool, synthetic_root, tmp_path, repo_root):
    """tools/train.py on the synthetic shapes. Reduced network (documented): VGG16's 13+2 layers at
    widths 8-16-16-32-32 / fc 32 with BN, padded geometry (conv1_1 pad 1: 6x fewer pixels than pad
    100 on 64x64 images), 50 AdamW iterations.

    "Beats a constant predictor" is judged on the training loss: the best constant prediction
    (the label frequencies) has a cross-entropy equal to the entropy of the training labels."""
    work = tmp_path / "work"
    r = run_tool(
        "train.py",
        repo_root / "configs" / "fcn" / "fcn8s_vgg16_synthetic.py",
        "--work-dir",
        work,
        "--cfg-options",
        *data_root_overrides(synthetic_root),
        "model.backbone.widths=[8,16,16,32,32]",
        "model.backbone.fc_channels=32",
        "model.decode_head.in_channels=[16,32,32]",
        "model.backbone.conv1_1_padding=1",
        "model.backbone.fc6_padding=3",
        "model.decode_head.mode=padded",
        "train_dataloader.batch_size=4",
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False",
        "train_cfg.max_iters=50",
        "train_cfg.val_interval=50",
        "default_hooks.logger.interval=5",
        "default_hooks.checkpoint.interval=50",
        "param_scheduler.0.end=50",
        "optim_wrapper.optimizer.lr=0.005",
        timeout=1200,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    text = r.stdout + r.stderr
    losses = [float(v) for v in re.findall(r"decode\.loss_ce: ([0-9.]+)", text)]
    assert len(losses) >= 8, text[-2000:]
    final = np.mean(losses[-3:])
    assert final < 0.7 * np.mean(losses[:2])
    constant_loss = _label_entropy(synthetic_root / "ann_dir" / "train")
    assert final < constant_loss, (final, constant_loss)
    assert re.search(r"aAcc: [0-9.]+\s+mIoU: [0-9.]+\s+mAcc: [0-9.]+", text), text[-2000:]


def _label_entropy(ann_dir: Path) -> float:
    """Cross-entropy (nats) of the best constant predictor = entropy of the label frequencies."""
    from PIL import Image

    labels = np.concatenate([np.asarray(Image.open(p)).ravel() for p in sorted(ann_dir.glob("*.png"))])
    p = np.bincount(labels[labels != 255]) / (labels != 255).sum()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())
