"""Every config we ship trains 2 iterations and evaluates, through tools/train.py.

Each config runs on its real data where ``../shared/data`` has it (a 1-2 image subset of it,
linked, not copied; DRIVE converted and cut to 192x192 pixels, in our layout and in mmseg's) and
otherwise on a tiny generated stand-in in the same on-disk layout
(``segclassics.datasets.standins``). The network is always the config's own: overrides change
only the iterations, evaluation/checkpoint interval, batch size, input size (resize / crop /
padding / tile sizes), the data location and subset, and the number of dataloader workers; a
config that asks for weights that are not available offline (ImageNet, a previous training
stage) starts from random weights.

``DATA`` lists every config with the data it reads: a config added without an entry fails
``test_every_config_is_listed``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from helpers import REPO, SHIPPED_CONFIGS
from segclassics.engine.config_kind import D2_LAZY, D2_YAML, MMENGINE, detect_config_kind

SHARED = Path(os.environ.get("SEGCLASSICS_SHARED_DATA", REPO.parent / "shared" / "data"))
CONFIGS = sorted(str(p.relative_to(REPO / "configs")) for p in SHIPPED_CONFIGS)

#: config (relative to configs/) -> the dataset layout it reads
DATA = {
    "detectron2/fcn8s-atonce_vgg16_voc12aug.py": "voc_aug",
    "detectron2/fcn8s_vgg16_synthetic.py": "synthetic",
    "detectron2/mask_rcnn_R_18_FPN_isbi2012.py": "isbi2012",
    "detectron2/mask_rcnn_R_18_FPN_isbi2012.yaml": "isbi2012",
    "detectron2/mask_rcnn_R_50_FPN_coco.py": "coco",
    "detectron2/mask_rcnn_R_50_FPN_isbi2012.py": "isbi2012",
    "detectron2/mask_rcnn_R_50_FPN_isbi2012.yaml": "isbi2012",
    "detectron2/mask_rcnn_R_50_FPN_voc_tiny.py": "voc_tiny",
    "detectron2/mask_rcnn_VGG16_FPN_isbi2012.py": "isbi2012",
    "detectron2/mask_rcnn_VGG16_FPN_isbi2012.yaml": "isbi2012",
    "detectron2/mask_rcnn_ViT_SFP_isbi2012.py": "isbi2012",
    "detectron2/mask_rcnn_ViT_SFP_isbi2012.yaml": "isbi2012",
    "detectron2/segnet_basic_camvid.py": "camvid",
    "detectron2/segnet_basic_synthetic.py": "synthetic",
    "detectron2/setr_pup_synthetic.py": "synthetic",
    "detectron2/unet_synthetic.py": "synthetic",
    "detectron2/unet_synthetic.yaml": "synthetic",
    "fcn/fcn16s_vgg16_voc12aug.py": "voc_aug",
    "fcn/fcn32s_vgg16_voc12aug.py": "voc_aug",
    "fcn/fcn32s_vgg16_voc12aug_cvpr.py": "voc_aug",
    "fcn/fcn8s-atonce_vgg16_voc12aug.py": "voc_aug",
    "fcn/fcn8s_vgg16_synthetic.py": "synthetic",
    "fcn/fcn8s_vgg16_voc12aug.py": "voc_aug",
    "fcn/fcn8s_vgg16_voc_tiny.py": "voc_tiny",
    "mask_rcnn/mask-rcnn_r18_fpn_gn-scratch_isbi2012.py": "isbi2012",
    "mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py": "coco",
    "mask_rcnn/mask-rcnn_r50_fpn_gn-scratch_isbi2012.py": "isbi2012",
    "mask_rcnn/mask-rcnn_r50_fpn_gn-scratch_voc-tiny.py": "voc_tiny",
    "mask_rcnn/mask-rcnn_vgg16_fpn_isbi2012.py": "isbi2012",
    "mask_rcnn/mask-rcnn_vit-b_sfp_isbi2012.py": "isbi2012",
    "mixing/vgg16_aspp_synthetic.py": "synthetic",
    "segnet/segnet_basic_camvid.py": "camvid",
    "segnet/segnet_basic_camvid_180x240_cpu.py": "camvid",
    "segnet/segnet_basic_camvid_cpu.py": "camvid",
    "segnet/segnet_basic_synthetic.py": "synthetic",
    "segnet/segnet_vgg16_camvid.py": "camvid",
    "setr/benchmark/setr_pup_vit-b_256_mmseg.py": "ade20k",
    "setr/benchmark/setr_pup_vit-b_256_ours.py": "ade20k",
    "setr/setr_mla_vit-l_ade20k.py": "ade20k",
    "setr/setr_naive_vit-l_ade20k.py": "ade20k",
    "setr/setr_pup_vit-l_ade20k.py": "ade20k",
    "setr/setr_pup_vit-tiny_synthetic.py": "synthetic",
    "setr_ade20k.py": "ade20k",
    "unet/mmseg_unet_s5_d16_fcn_drive_64x64.py": "drive_mmseg",
    "unet/unet_drive.py": "drive",
    "unet/unet_same-b16_drive_128x128_cpu.py": "drive",
    "unet/unet_same_drive_64x64.py": "drive",
    "unet/unet_synthetic.py": "synthetic",
    "unet/unet_valid-b16_isbi2012_572x572_cpu.py": "isbi2012",
    "unet/unet_valid_isbi2012.py": "isbi2012",
    "unet/unet_valid_isbi2012_cpu.py": "isbi2012",
}


def test_every_config_is_listed():
    assert len(CONFIGS) >= 40
    assert sorted(DATA) == CONFIGS, "add the new config to DATA (and its overrides below if it needs any)"


# ----------------------------------------------------------------------------- the data kit


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src.resolve(), dst)


def _real_camvid(dst: Path) -> None:
    src = SHARED / "camvid"
    for split, count in (("train", 2), ("val", 1)):
        for image in sorted((src / "images" / split).iterdir())[:count]:
            _link(image, dst / "images" / split / image.name)
            _link(src / "labels" / split / (image.stem + ".png"), dst / "labels" / split / (image.stem + ".png"))


def _real_isbi2012(dst: Path) -> None:
    """Slice 0 (train) and slice 24 (val) of the real data, with their instance annotations."""
    src = SHARED / "isbi2012"
    for split, n in (("train", 0), ("val", 24)):
        _link(src / "images" / "train" / f"{n}.png", dst / "images" / "train" / f"{n}.png")
        _link(src / "labels" / "train" / f"{n}.png", dst / "labels" / "train" / f"{n}.png")
        coco = json.loads((src / "instances" / f"{split}.json").read_text())
        images = [im for im in coco["images"] if im["file_name"] == f"images/train/{n}.png"]
        ids = {im["id"] for im in images}
        coco.update(images=images, annotations=[a for a in coco["annotations"] if a["image_id"] in ids])
        (dst / "instances").mkdir(parents=True, exist_ok=True)
        (dst / "instances" / f"{split}.json").write_text(json.dumps(coco))


def _real_drive(dst: Path, crop: int = 192) -> None:
    """Two training and one test image of the raw DRIVE download, converted by our converter, then
    cut to their central ``crop`` x ``crop`` pixels (inference over a whole 565x584 image costs
    minutes on a CPU for the configs with sliding windows)."""
    from PIL import Image

    from segclassics.datasets.drive import convert, raw_files

    raw = dst.parent / "drive_raw"
    for split, count in (("training", 2), ("test", 1)):
        for files in raw_files(str(SHARED / "drive"), split)[:count]:
            for key, sub in (("image", "images"), ("label", "1st_manual"), ("mask", "mask")):
                _link(Path(files[key]), raw / split / sub / Path(files[key]).name)
    convert(str(raw), str(dst))
    for png in dst.rglob("*.png"):
        with Image.open(png) as im:
            left, top = (im.width - crop) // 2, (im.height - crop) // 2
            im.crop((left, top, left + crop, top + crop)).save(png)


def _real_drive_mmseg(dst: Path, ours: Path) -> None:
    """The same real DRIVE images as ``_real_drive`` (already converted and cut), linked into mmseg's
    DRIVE layout: ``images/{training,validation}/NN.png``, ``annotations/.../NN_manual1.png``
    (0/1 labels, as mmseg's converter writes them; DRIVE's test split serves as mmseg's validation)."""
    for split, mmseg_split in (("training", "training"), ("test", "validation")):
        for image in sorted((ours / "img_dir" / split).glob("*.png")):
            _link(image, dst / "images" / mmseg_split / image.name)
            _link(
                ours / "ann_dir" / split / image.name, dst / "annotations" / mmseg_split / f"{image.stem}_manual1.png"
            )


class DataKit:
    """Builds each dataset layout once per test run, from ../shared/data if present, else generated."""

    def __init__(self, base: Path):
        self.base, self.built = base, {}

    def __call__(self, kind: str) -> tuple[Path, bool]:
        if kind not in self.built:
            done = self.base / f"{kind}.done"  # lets several processes share one kit folder
            if done.is_file():
                root, real = done.read_text().split("\n")
                self.built[kind] = Path(root), real == "real"
            else:
                self.built[kind] = self._build(kind, self.base / kind)
                done.write_text(f"{self.built[kind][0]}\n{'real' if self.built[kind][1] else 'standin'}")
        return self.built[kind]

    def _build(self, kind: str, root: Path) -> tuple[Path, bool]:
        from segclassics.datasets import standins

        real = {
            "camvid": "camvid",
            "isbi2012": "isbi2012",
            "drive": "drive",
            "drive_mmseg": "drive",
            "voc_tiny": "voc_tiny",
        }.get(kind)
        if real and (SHARED / real).is_dir():
            if kind == "voc_tiny":
                return SHARED / "voc_tiny", True  # 3 images: used as it is
            if kind == "drive_mmseg":
                _real_drive_mmseg(root, self("drive")[0])
                return root, True
            {"camvid": _real_camvid, "isbi2012": _real_isbi2012, "drive": _real_drive}[kind](root)
            return root, True
        if kind == "synthetic":
            from segclassics.datasets.synthetic import ensure_synthetic

            ensure_synthetic(str(root), num_train=2, num_val=1, size=(64, 64))
        elif kind == "ade20k":
            from segclassics.datasets.ade20k_fixture import make_ade20k_fixture

            make_ade20k_fixture(str(root), num_train=1, num_val=1, size=(64, 64))
        elif kind == "drive":
            from segclassics.datasets.drive import convert

            convert(standins.drive_raw(str(root.parent / "drive_raw"), size=(160, 160)), str(root))
        elif kind == "isbi2012":
            standins.isbi2012(str(root), size=(96, 96))
        else:
            getattr(
                standins,
                {
                    "voc_aug": "voc_aug",
                    "camvid": "camvid",
                    "voc_tiny": "voc_tiny",
                    "coco": "coco2017",
                    "drive_mmseg": "drive_mmseg",
                }[kind],
            )(str(root))
        return root, False


@pytest.fixture(scope="session")
def data_kit(tmp_path_factory):
    return DataKit(tmp_path_factory.mktemp("every_config_data"))


# ----------------------------------------------------------------------------- overrides

MM_LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")
MM_COMMON = [
    "train_cfg.max_iters=2",
    "train_cfg.val_interval=2",
    "default_hooks.checkpoint.interval=2",
    "default_hooks.logger.interval=1",
    "train_dataloader.batch_size=2",
    "randomness.seed=0",
] + [f"{d}.{k}" for d in MM_LOADERS for k in ("num_workers=0", "persistent_workers=False")]
D2_COMMON = [
    "train.max_iter=2",
    "train.eval_period=2",
    "train.checkpointer.period=2",
    "train.log_period=1",
    "dataloader.train.num_workers=0",
    "dataloader.test.num_workers=0",
    "dataloader.train.total_batch_size=2",
]


def _roots(root: Path, loaders=MM_LOADERS) -> list[str]:
    return [f"{d}.dataset.data_root={root}" for d in loaders]


def _mmseg(config: str, kind: str, root: Path) -> list[str]:
    opts = list(MM_COMMON)
    if kind == "voc_aug":
        opts += [
            "train_dataloader.dataset.datasets.0.data_root=%s" % root,
            "train_dataloader.dataset.datasets.1.data_root=%s" % root,
            "train_dataloader.batch_size=1",
        ] + _roots(root, ("val_dataloader", "test_dataloader"))
        # ImageNet VGG16 weights / the previous FCN stage's checkpoint: not available here, random weights
        opts += ["model.backbone.pretrained=None", "load_from=None"]
    elif kind == "ade20k":
        opts += _roots(root) + [
            "train_dataloader.dataset.pipeline.2.scale=(128,64)",
            "train_dataloader.dataset.pipeline.3.crop_size=(64,64)",
            "val_dataloader.dataset.pipeline.1.scale=(128,64)",
            "model.data_preprocessor.size=(64,64)",
        ]
        if "vit-l" in config or config == "setr_ade20k.py":
            opts += ["model.test_cfg.crop_size=(64,64)", "model.test_cfg.stride=(48,48)"]
    elif kind == "camvid":
        opts += _roots(root)
    elif kind == "drive":
        opts += _roots(root)
    elif kind == "drive_mmseg":
        opts += ["train_dataloader.dataset.dataset.data_root=%s" % root] + _roots(root, ("val_dataloader",))
        opts += ["val_dataloader.dataset.pipeline.1.scale=(64,64)"]
    elif kind == "isbi2012":
        opts += _roots(root) + [
            "train_dataloader.dataset.slices=[0]",
            "val_dataloader.dataset.slices=[24]",
            "test_dataloader.dataset.slices=[24]",
            "train_dataloader.batch_size=1",
        ]
    else:  # synthetic, voc_tiny
        opts += _roots(root if kind == "synthetic" else root / "voc")
    if kind == "voc_tiny":
        opts += ["val_dataloader.dataset.indices=1"]  # evaluate on one of its images
    return opts


def _mmdet(config: str, kind: str, root: Path) -> list[str]:
    opts = list(MM_COMMON) + ["train_dataloader.batch_size=1", "model.train_cfg.rcnn.sampler.num=32"]
    if kind == "isbi2012":
        ann = root / "instances" / "val.json"
        opts += _roots(f"{root}/") + [
            f"val_evaluator.ann_file={ann}",
            f"val_evaluator.image_root={root}/",
            "train_dataloader.dataset.pipeline.2.scale=(128,128)",
            "train_dataloader.dataset.pipeline.3.crop_size=(96,96)",
            "val_dataloader.dataset.pipeline.1.scale=(128,128)",
        ]
    elif kind == "voc_tiny":
        coco = root / "coco"
        opts += _roots(f"{coco}/") + [
            f"val_evaluator.ann_file={coco}/annotations.json",
            f"val_evaluator.image_root={coco}/",
            "val_dataloader.dataset.indices=1",  # evaluate on one of its images
            "train_dataloader.dataset.pipeline.2.scale=(128,96)",
            "val_dataloader.dataset.pipeline.1.scale=(128,96)",
        ]
    elif kind == "coco":
        opts = [o for o in opts if not o.startswith("train_cfg.")] + [
            "train_cfg.max_epochs=1",
            "model.backbone.init_cfg=None",  # ImageNet weights: not offline
            f"val_evaluator.ann_file={root}/annotations/instances_val2017.json",
            f"val_evaluator.image_root={root}/val2017/",
            "default_hooks.checkpoint.interval=1",
            "train_dataloader.dataset.pipeline.2.scale=(128,96)",
            "val_dataloader.dataset.pipeline.1.scale=(128,96)",
        ]
        opts += _roots(f"{root}/")
    return opts


def _detectron2(config: str, kind: str, root: Path) -> tuple[list[str], dict]:
    if config.endswith(".yaml"):
        opts = [
            "SOLVER.MAX_ITER=2",
            "SOLVER.CHECKPOINT_PERIOD=2",
            "TEST.EVAL_PERIOD=2",
            "DATALOADER.NUM_WORKERS=0",
            "SOLVER.IMS_PER_BATCH=2",
        ]
        if kind != "isbi2012":
            return opts, {"SEGCLASSICS_SYNTHETIC_ROOT": str(root)}
        opts += [
            "SOLVER.IMS_PER_BATCH=1",
            "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE=32",
            "INPUT.MIN_SIZE_TRAIN=(96,)",
            "INPUT.MAX_SIZE_TRAIN=128",
            "INPUT.MIN_SIZE_TEST=96",
            "INPUT.MAX_SIZE_TEST=128",
            "INPUT.CROP.SIZE=[64,64]",
        ]
        if "ViT" in config:
            opts += ["MODEL.SEGCLASSICS.SFP.SQUARE_PAD=128"]
        return opts, {"SEGCLASSICS_ISBI2012": str(root)}
    opts, env = list(D2_COMMON), {}
    if kind in ("synthetic", "camvid"):
        opts += [f"dataloader.train.dataset.root={root}"]
    elif kind == "voc_aug":
        env["SEGCLASSICS_VOC2012"] = str(root)
        opts += ["dataloader.train.total_batch_size=1", "train.init_checkpoint=''"]
    else:  # Mask R-CNN
        env.update(SEGCLASSICS_ISBI2012=str(root), SEGCLASSICS_VOC_TINY=str(root), SEGCLASSICS_COCO=str(root))
        opts += [
            "dataloader.train.total_batch_size=1",
            "model.roi_heads.batch_size_per_image=32",
            "dataloader.train.mapper.augmentations.0.short_edge_length=[96]",
            "dataloader.train.mapper.augmentations.0.max_size=128",
            "dataloader.test.mapper.augmentations.0.short_edge_length=96",
            "dataloader.test.mapper.augmentations.0.max_size=128",
            "train.init_checkpoint=''",
        ]
        if kind == "isbi2012":
            opts += ["dataloader.train.mapper.augmentations.1.crop_size=[64,64]"]
        if "ViT" in config:
            opts += ["model.backbone.square_pad=128"]
    return opts, env


def overrides(config: str, kind: str, root: Path) -> tuple[list[str], dict]:
    framework = detect_config_kind(str(REPO / "configs" / config))
    if framework == MMENGINE:
        from mmengine.config import Config

        scope = Config.fromfile(str(REPO / "configs" / config)).get("default_scope")
        opts = (_mmseg if scope == "mmseg" else _mmdet)(config, kind, root)
        return ["--cfg-options", *opts], {}
    assert framework in (D2_LAZY, D2_YAML)
    return _detectron2(config, kind, root)


@pytest.fixture(autouse=True)
def _remove_checkpoints(tmp_path):
    """Delete each test's work directories afterwards: the checkpoints of the large networks
    (ViT-L with its optimizer state: 2.5 GB) would otherwise fill the disk."""
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)


EVALUATED = re.compile(r"Iter\(val\) \[\d+/\d+\]\s+\S+: |copypaste: Task: |Epoch\(val\) \[\d+\]\[\d+/\d+\]\s+\S+: ")


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS)
def test_config_trains_and_evaluates(config, data_kit, run_tool, tmp_path):
    root, _ = data_kit(DATA[config])
    args, env = overrides(config, DATA[config], root)
    proc = run_tool("train.py", REPO / "configs" / config, "--work-dir", tmp_path / "work", *args, env=env, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert EVALUATED.search(log), log[-4000:]
