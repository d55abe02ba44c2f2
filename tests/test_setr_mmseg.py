"""SETR in mmseg: registry, configs, mixing with mmseg's parts, mmseg-checkpoint conversion,
tools/train.py on the real ADE20K config (generated ADE20K-layout fixture) and the synthetic one."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmseg")
import mmcv.ops  # noqa: E402,F401  mmseg needs the full mmcv build: missing ops are a broken install, not a skip
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

import segclassics.mmseg  # noqa: E402,F401
from helpers import REPO  # noqa: E402
from segclassics.mmseg.setr_checkpoint import setr_checkpoint_to_mmseg  # noqa: E402
from segclassics.models.vit import adapt_vit_state_dict  # noqa: E402
from segclassics.models.vit_convert import convert_mmseg_setr, convert_vit_checkpoint  # noqa: E402
from segclassics.utils.checkpoint import load_state_dict_checked  # noqa: E402

init_default_scope("mmseg")
TINY = dict(arch=None, embed_dim=32, depth=4, num_heads=4, patch_size=16, mlp_ratio=4.0)


def samples(n, size, classes):
    out = []
    for _ in range(n):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, classes, (1, size, size)))
        s.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
        out.append(s)
    return out


def tiny_model_cfg(config: str, classes=7):
    cfg = Config.fromfile(str(REPO / config))
    m = copy.deepcopy(cfg.model)
    m.pop("data_preprocessor", None)
    m.backbone.update(
        TINY,
        img_size=(64, 64),
        pretrained=None,
        out_indices=tuple(
            {(9, 14, 19, 23): (0, 1, 2, 3), (5, 11, 17, 23): (0, 1, 2, 3)}[tuple(m.backbone.out_indices)]
        ),
    )
    heads = [m.decode_head] + list(m.auxiliary_head)
    for h in heads:
        h.num_classes = classes
        h.norm_cfg = dict(type="BN", requires_grad=True)
        if h.type == "SETRMLADecodeHead":
            h.update(in_channels=(16,) * 4, channels=32, mla_channels=8)
        elif m.get("neck") is not None:
            h.update(in_channels=16, channels=16)
        else:
            h.update(in_channels=32, channels=16)
    if m.get("neck") is not None:
        m.neck.update(in_channels=[32] * 4, out_channels=16, norm_cfg=dict(type="BN"))
    return m


def test_registry_names_do_not_shadow_mmseg():
    from mmseg.models.backbones import VisionTransformer as MMViT
    from mmseg.models.decode_heads import SETRMLAHead, SETRUPHead
    from mmseg.models.necks import MLANeck

    assert MODELS.get("VisionTransformer") is MMViT and MODELS.get("SETRUPHead") is SETRUPHead
    assert MODELS.get("SETRMLAHead") is SETRMLAHead and MODELS.get("MLANeck") is MLANeck
    for name in ("SETRViT", "SETRNaiveHead", "SETRPUPHead", "SETRMLANeck", "SETRMLADecodeHead"):
        assert MODELS.get(name).__module__.startswith(("segclassics.mmseg.", "segclassics.openmmlab.")), name


@pytest.mark.parametrize(
    "config,n_aux",
    [
        ("configs/setr/setr_naive_vit-l_ade20k.py", 3),
        ("configs/setr/setr_pup_vit-l_ade20k.py", 4),
        ("configs/setr/setr_mla_vit-l_ade20k.py", 4),
    ],
)
def test_configs_build_and_train_step(config, n_aux):
    model = MODELS.build(tiny_model_cfg(config))
    model.init_weights()
    losses = model.loss(torch.randn(2, 3, 64, 64), samples(2, 64, 7))
    assert "decode.loss_ce" in losses and sum(f"aux_{i}.loss_ce" in losses for i in range(n_aux)) == n_aux
    total = sum(v for k, v in losses.items() if "loss" in k)
    total.backward()
    assert torch.isfinite(total)
    model.eval()
    with torch.no_grad():
        logits = model.encode_decode(torch.randn(1, 3, 64, 80), [dict(img_shape=(64, 80))])
    assert logits.shape == (1, 7, 64, 80)


def test_our_vit_with_mmseg_uperhead():
    cfg = dict(
        type="EncoderDecoder",
        backbone=dict(type="SETRViT", img_size=(64, 64), out_indices=(0, 1, 2, 3), **TINY),
        neck=dict(type="MultiLevelNeck", in_channels=[32] * 4, out_channels=32, scales=[4, 2, 1, 0.5]),
        decode_head=dict(
            type="UPerHead",
            in_channels=[32] * 4,
            in_index=[0, 1, 2, 3],
            pool_scales=(1, 2, 3, 6),
            channels=16,
            num_classes=5,
            norm_cfg=dict(type="BN", requires_grad=True),
            loss_decode=dict(type="CrossEntropyLoss", loss_weight=1.0),
        ),
        train_cfg=dict(),
        test_cfg=dict(mode="whole"),
    )
    model = MODELS.build(cfg)
    model.init_weights()
    losses = model.loss(torch.randn(2, 3, 64, 64), samples(2, 64, 5))
    assert torch.isfinite(losses["decode.loss_ce"])


def _mmseg_setr(decoder):
    """mmseg's own SETR (VisionTransformer + SETRUPHead / MLANeck + SETRMLAHead), tiny."""
    bn = dict(type="BN", requires_grad=True)
    backbone = dict(
        type="VisionTransformer",
        img_size=(64, 64),
        patch_size=16,
        embed_dims=32,
        num_layers=4,
        num_heads=4,
        out_indices=(0, 1, 2, 3),
        with_cls_token=False,
        norm_cfg=dict(type="LN", eps=1e-6),
        interpolate_mode="bicubic",
    )
    if decoder == "pup":
        return dict(
            type="EncoderDecoder",
            backbone=backbone,
            decode_head=dict(
                type="SETRUPHead",
                in_channels=32,
                channels=16,
                in_index=3,
                num_classes=5,
                dropout_ratio=0,
                norm_cfg=bn,
                num_convs=4,
                up_scale=2,
                kernel_size=3,
            ),
            auxiliary_head=[
                dict(
                    type="SETRUPHead",
                    in_channels=32,
                    channels=16,
                    in_index=i,
                    num_classes=5,
                    dropout_ratio=0,
                    norm_cfg=bn,
                    num_convs=1,
                    up_scale=4,
                    kernel_size=3,
                )
                for i in range(4)
            ],
            train_cfg=dict(),
            test_cfg=dict(mode="whole"),
        )
    return dict(
        type="EncoderDecoder",
        backbone=backbone,
        neck=dict(type="MLANeck", in_channels=[32] * 4, out_channels=16, norm_cfg=bn, act_cfg=dict(type="ReLU")),
        decode_head=dict(
            type="SETRMLAHead",
            in_channels=(16,) * 4,
            channels=32,
            in_index=(0, 1, 2, 3),
            mla_channels=8,
            num_classes=5,
            dropout_ratio=0,
            norm_cfg=bn,
        ),
        auxiliary_head=[
            dict(
                type="FCNHead",
                in_channels=16,
                channels=16,
                in_index=i,
                num_convs=0,
                kernel_size=1,
                concat_input=False,
                num_classes=5,
                dropout_ratio=0,
            )
            for i in range(4)
        ],
        train_cfg=dict(),
        test_cfg=dict(mode="whole"),
    )


def _ours_like(decoder):
    bn = dict(type="BN", requires_grad=True)
    backbone = dict(type="SETRViT", img_size=(64, 64), out_indices=(0, 1, 2, 3), **TINY)
    if decoder == "pup":
        return dict(
            type="EncoderDecoder",
            backbone=backbone,
            decode_head=dict(
                type="SETRPUPHead",
                in_channels=32,
                channels=16,
                in_index=3,
                num_classes=5,
                norm_cfg=bn,
                num_convs=4,
                up_scale=2,
                kernel_size=3,
            ),
            auxiliary_head=[
                dict(
                    type="SETRPUPHead",
                    in_channels=32,
                    channels=16,
                    in_index=i,
                    num_classes=5,
                    norm_cfg=bn,
                    num_convs=1,
                    up_scale=4,
                    kernel_size=3,
                )
                for i in range(4)
            ],
            train_cfg=dict(),
            test_cfg=dict(mode="whole"),
        )
    return dict(
        type="EncoderDecoder",
        backbone=backbone,
        neck=dict(type="SETRMLANeck", in_channels=[32] * 4, out_channels=16, norm_cfg=bn),
        decode_head=dict(
            type="SETRMLADecodeHead", in_channels=(16,) * 4, channels=32, mla_channels=8, num_classes=5, norm_cfg=bn
        ),
        auxiliary_head=[
            dict(
                type="SETRNaiveHead",
                in_channels=16,
                channels=16,
                in_index=i,
                num_classes=5,
                num_convs=0,
                input_norm=False,
                norm_cfg=bn,
            )
            for i in range(4)
        ],
        train_cfg=dict(),
        test_cfg=dict(mode="whole"),
    )


@pytest.mark.parametrize("decoder", ["pup", "mla"])
def test_mmseg_setr_checkpoint_converts_to_equal_outputs(decoder):
    torch.manual_seed(0)
    theirs = MODELS.build(_mmseg_setr(decoder))
    theirs.init_weights()
    for m in theirs.modules():  # non-trivial BN statistics and LN affine
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
    theirs.eval()
    ours = MODELS.build(_ours_like(decoder)).eval()
    sd = convert_mmseg_setr(theirs.state_dict())  # keys of the framework-free SETR ...
    sd = adapt_vit_state_dict(sd, ours.backbone.grid_size, 16, class_token=False, final_norm=False, prefix="backbone.")
    load_state_dict_checked(ours, setr_checkpoint_to_mmseg(sd))  # ... under our mmseg model's names
    x = torch.randn(2, 3, 64, 64)
    metas = [dict(img_shape=(64, 64))] * 2
    with torch.no_grad():
        torch.testing.assert_close(ours.encode_decode(x, metas), theirs.encode_decode(x, metas), rtol=1e-4, atol=1e-4)
        feats_t, feats_o = theirs.extract_feat(x), ours.extract_feat(x)
        for i, (ht, ho) in enumerate(zip(theirs.auxiliary_head, ours.auxiliary_head)):
            a = torch.nn.functional.interpolate(ht(feats_t), size=(64, 64), mode="bilinear")
            b = torch.nn.functional.interpolate(ho(feats_o), size=(64, 64), mode="bilinear")
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4, msg=f"aux {i}")


VIT_L_CONFIGS = [
    "configs/setr/setr_naive_vit-l_ade20k.py",
    "configs/setr/setr_pup_vit-l_ade20k.py",
    "configs/setr/setr_mla_vit-l_ade20k.py",
    "configs/setr_ade20k.py",
]


@pytest.mark.parametrize("config", VIT_L_CONFIGS)
def test_vit_l_configs_keep_the_class_token_and_build_sync_bn(config):
    """The ViT-L configs start from the pretrained ViT and keep its class token in the sequence, as
    the official SETR and mmseg's SETR configs (``with_cls_token=True``); their SyncBN is
    ``nn.SyncBatchNorm`` (mmengine's runner reverts it to BatchNorm when not distributed)."""
    cfg = Config.fromfile(str(REPO / config))
    assert cfg.model.backbone.pretrained and cfg.model.backbone.class_token is True
    with torch.device("meta"):
        model = MODELS.build(cfg.model)
    assert model.backbone.cls_token is not None and model.backbone.pos_embed.shape[1] == 32 * 32 + 1
    norms = {type(m) for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    assert norms == {torch.nn.SyncBatchNorm}


def test_class_token_encoder_equals_mmseg_vit_with_cls_token():
    """mmseg's VisionTransformer(with_cls_token=True), converted, gives our encoder with
    ``class_token=True`` the same maps, at the training size and at another size (position embedding
    resized, its class slot kept). Dropping the token instead changes the pretrained features."""
    torch.manual_seed(0)
    theirs = MODELS.build(
        dict(
            type="VisionTransformer",
            img_size=(64, 64),
            patch_size=16,
            embed_dims=32,
            num_layers=4,
            num_heads=4,
            out_indices=(1, 3),
            with_cls_token=True,
            output_cls_token=False,
            final_norm=False,
            norm_cfg=dict(type="LN", eps=1e-6),
            interpolate_mode="bicubic",
        )
    )
    theirs.init_weights()
    with torch.no_grad():  # a trained-looking class token and position embedding
        theirs.cls_token.normal_()
        theirs.pos_embed.normal_(0, 0.5)
    theirs.eval()
    sd = convert_vit_checkpoint(theirs.state_dict(), "mmseg", backbone_only=True)
    ours = MODELS.build(dict(type="SETRViT", img_size=(64, 64), out_indices=(1, 3), class_token=True, **TINY)).eval()
    load_state_dict_checked(ours, sd, convert=ours.checkpoint_filter_fn)
    no_cls = MODELS.build(dict(type="SETRViT", img_size=(64, 64), out_indices=(1, 3), **TINY)).eval()
    load_state_dict_checked(no_cls, sd, convert=no_cls.checkpoint_filter_fn)  # drops the token and its slot
    for size in ((64, 64), (48, 80)):
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            for a, b in zip(ours(x), theirs(x)):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
            assert not torch.allclose(no_cls(x)[-1], theirs(x)[-1], rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize(
    "ours,reference",
    [
        ("setr/setr_naive_vit-l_ade20k.py", "setr/setr_vit-l_naive_8xb2-160k_ade20k-512x512.py"),
        ("setr/setr_pup_vit-l_ade20k.py", "setr/setr_vit-l_pup_8xb2-160k_ade20k-512x512.py"),
        ("setr/setr_mla_vit-l_ade20k.py", "setr/setr_vit-l_mla_8xb2-160k_ade20k-512x512.py"),
    ],
)
def test_setr_schedules_follow_mmseg_configs(ours, reference):
    """Learning rate (Naive 0.01, PUP / MLA 0.001), momentum, weight decay, the x10 decoder lr and the
    batch follow the ADE20K configs shipped with mmseg (which reproduce the official ones)."""
    import mmseg

    ref = Config.fromfile(str(Path(mmseg.__file__).parent / ".mim" / "configs" / reference))
    cfg = Config.fromfile(str(REPO / "configs" / ours))
    for key in ("lr", "momentum", "weight_decay"):
        assert cfg.optim_wrapper.optimizer[key] == ref.optim_wrapper.optimizer[key], key
    assert cfg.optim_wrapper.paramwise_cfg == ref.optim_wrapper.paramwise_cfg
    assert cfg.train_dataloader.batch_size == ref.train_dataloader.batch_size


def test_pretrained_missing_or_bad(tmp_path):
    cfg = dict(type="SETRViT", img_size=(32, 32), out_indices=(3,), pretrained=str(tmp_path / "nope.pth"), **TINY)
    vit = MODELS.build(cfg)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        vit.init_weights()
    vit = MODELS.build(dict(cfg, pretrained_missing="warn"))
    with pytest.warns(UserWarning, match="random initialisation"):
        vit.init_weights()
    bad = {k: v for k, v in vit.state_dict().items()}
    bad["blocks.9.attn.qkv.weight"] = torch.zeros(96, 32)
    torch.save(bad, tmp_path / "bad.pth")
    vit = MODELS.build(dict(cfg, pretrained=str(tmp_path / "bad.pth")))
    from segclassics.utils.checkpoint import CheckpointMismatchError

    with pytest.raises(CheckpointMismatchError, match="blocks.9.attn.qkv.weight"):
        vit.init_weights()


ADE_TINY = [
    "model.backbone.arch=None",
    "model.backbone.embed_dim=32",
    "model.backbone.depth=4",
    "model.backbone.num_heads=2",
    "model.backbone.out_indices=[0,1,2,3]",
    "model.backbone.pretrained=None",
    "model.decode_head.in_channels=32",
    "model.decode_head.channels=8",
    *[f"model.auxiliary_head.{i}.{k}" for i in range(4) for k in ("in_channels=32", "channels=8")],
    "train_cfg.max_iters=2",
    "train_cfg.val_interval=2",
    "default_hooks.checkpoint.interval=2",
    "default_hooks.logger.interval=1",
    "train_dataloader.batch_size=1",
    "train_dataloader.num_workers=0",
    "train_dataloader.persistent_workers=False",
    "val_dataloader.num_workers=0",
    "val_dataloader.persistent_workers=False",
    "test_dataloader.num_workers=0",
    "test_dataloader.persistent_workers=False",
]


@pytest.mark.slow
def test_ade20k_config_end_to_end_on_fixture(tmp_path, run_tool):
    from segclassics.datasets.ade20k_fixture import make_ade20k_fixture

    root = make_ade20k_fixture(str(tmp_path / "ade"), num_train=2, num_val=1, size=(64, 80))
    opts = ADE_TINY + [
        f"{d}.dataset.data_root={root}" for d in ("train_dataloader", "val_dataloader", "test_dataloader")
    ]
    r = run_tool(
        "train.py",
        str(REPO / "configs/setr_ade20k.py"),
        "--work-dir",
        str(tmp_path / "work"),
        "--cfg-options",
        *opts,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    log = r.stdout + r.stderr
    assert "ADE20KDataset" in log or "mIoU" in log
    assert "mIoU" in log  # the validation with the sliding-window test ran
    assert (tmp_path / "work" / "iter_2.pth").exists()


@pytest.mark.slow
def test_ade20k_config_without_data_says_where(tmp_path, run_tool):
    r = run_tool(
        "train.py", str(REPO / "configs/setr_ade20k.py"), "--work-dir", str(tmp_path / "w"), cwd=tmp_path, timeout=300
    )
    assert r.returncode != 0
    err = r.stdout[-3000:] + r.stderr[-3000:]
    assert "data/ade/ADEChallengeData2016" in err and "ADEChallengeData2016.zip" in err, err
    assert "Traceback" not in err, err


@pytest.mark.slow
def test_synthetic_config_trains(tmp_path, run_tool, synthetic_root):
    opts = [
        "train_cfg.max_iters=2",
        "train_cfg.val_interval=2",
        "default_hooks.checkpoint.interval=2",
        "train_dataloader.batch_size=2",
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False",
        "test_dataloader.num_workers=0",
        "test_dataloader.persistent_workers=False",
    ]
    opts += [
        f"{d}.dataset.data_root={synthetic_root}" for d in ("train_dataloader", "val_dataloader", "test_dataloader")
    ]
    r = run_tool(
        "train.py",
        str(REPO / "configs/setr/setr_pup_vit-tiny_synthetic.py"),
        "--work-dir",
        str(tmp_path / "work"),
        "--cfg-options",
        *opts,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    assert "mIoU" in r.stdout + r.stderr


@pytest.mark.parametrize("config", ["configs/setr/setr_pup_vit-l_ade20k.py", "configs/setr/setr_naive_vit-l_ade20k.py"])
def test_head_losses_equal_mmsegs_and_accuracy_needs_no_topk(config, monkeypatch):
    """Our heads' ``loss_by_feat`` gives mmseg's ``BaseDecodeHead.loss_by_feat`` values exactly (losses
    and ``acc_seg``, logits resized to the label size, ignored pixels present) without mmseg's
    ``accuracy``, whose ``topk`` over full-size logits was a third of an H200 SETR training step."""
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead

    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(config))
    head = model.auxiliary_head[0]
    logits = torch.randn(2, 7, 16, 16)  # smaller than the 64x64 labels: resized as in mmseg
    batch = samples(2, 64, 7)
    batch[0].gt_sem_seg.data[0, :10] = 255  # ignored rows
    ref = BaseDecodeHead.loss_by_feat(head, logits, batch)
    monkeypatch.setattr(torch.Tensor, "topk", lambda *a, **k: pytest.fail("topk called"))
    ours = head.loss_by_feat(logits, batch)
    assert set(ours) == set(ref)
    for key in ref:
        assert torch.equal(ours[key], ref[key]), key


def test_setrvit_in_chans_is_a_deprecated_name_of_in_channels():
    """Checkpoint keys are unchanged: the old and new names build the same state dict keys."""
    with pytest.warns(DeprecationWarning, match="SETRViT: in_chans is deprecated; write in_channels"):
        old = MODELS.build(dict(type="SETRViT", img_size=32, in_chans=1, **TINY))
    new = MODELS.build(dict(type="SETRViT", img_size=32, in_channels=1, **TINY))
    assert old.patch_embed.proj.in_channels == new.patch_embed.proj.in_channels == 1
    assert list(old.state_dict()) == list(new.state_dict())
    with pytest.raises(ValueError, match="SETRViT: give in_channels only"):
        MODELS.build(dict(type="SETRViT", img_size=32, in_chans=1, in_channels=1, **TINY))
