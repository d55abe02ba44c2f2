"""SegNet in detectron2: the pool indices travel through the backbone's feature dict."""

import os

import pytest
import torch

pytest.importorskip("detectron2")

from detectron2.config import LazyConfig, get_cfg, instantiate  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402

from segclassics.detectron2.config import add_segclassics_config  # noqa: E402
from segclassics.detectron2.segnet_backbone import SegNetEncoderBackbone  # noqa: E402
from segclassics.detectron2.segnet_head import SegNetSemSegHead  # noqa: E402
from segclassics.models.segnet import SegNetBasic  # noqa: E402


def _inputs(sizes, num_classes=6):
    g = torch.Generator().manual_seed(0)
    return [
        {
            "image": torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8),
            "sem_seg": torch.randint(0, num_classes, (h, w), generator=g),
            "height": h,
            "width": w,
        }
        for h, w in sizes
    ]


@pytest.fixture(scope="module")
def model(repo_root):
    cfg = LazyConfig.load(str(repo_root / "configs" / "detectron2" / "segnet_basic_synthetic.py"))
    cfg.model.backbone.channels = cfg.model.sem_seg_head.channels = 8
    torch.manual_seed(0)
    return instantiate(cfg.model)


def test_backbone_dict_carries_indices_and_sizes():
    bb = SegNetEncoderBackbone(arch="basic", channels=4, num_stages=3, kernel_size=3)
    feats = bb(torch.randn(2, 3, 45, 61))
    assert list(bb.output_shape()) == ["pool3"] and bb.output_shape()["pool3"].stride == 8
    assert feats["pool1_size"].shape == (0, 45, 61) and feats["pool3_size"].shape == (0, 12, 16)
    assert feats["pool3_indices"].shape == feats["pool3"].shape and feats["pool1_indices"].dtype == torch.int64


def test_train_loss_and_eval_output_size_with_odd_sizes_and_batch(model):
    model.train()
    losses = model(_inputs([(45, 61), (45, 61)]))
    assert set(losses) == {"loss_sem_seg"} and torch.isfinite(losses["loss_sem_seg"])
    losses["loss_sem_seg"].backward()
    model.eval()
    with torch.no_grad():
        out = model(_inputs([(37, 53), (45, 61)]))  # batch of two sizes: detectron2 pads to 45x61
    assert [tuple(o["sem_seg"].shape) for o in out] == [(6, 37, 53), (6, 45, 61)]


def test_matches_the_plain_torch_segnet_basic(model):
    """Same weights -> same logits: the dict round trip of the indices changes nothing."""
    ref = SegNetBasic(6, channels=8)
    sd = {
        ("encoder." + k[len("backbone.encoder.") :])
        if k.startswith("backbone.encoder.")
        else "decoder." + k[len("sem_seg_head.module.") :]: v
        for k, v in model.state_dict().items()
        if k.startswith(("backbone.encoder.", "sem_seg_head.module."))
    }
    ref.load_state_dict(sd)
    model.eval()
    ref.eval()
    x = torch.randn(2, 3, 45, 61)
    with torch.no_grad():
        ours = model.sem_seg_head(model.backbone(x))[0]
        assert torch.allclose(ours, ref(x), atol=1e-5)


def test_yaml_config_builds_through_the_registries():
    cfg = add_segclassics_config(get_cfg())
    cfg.MODEL.META_ARCHITECTURE = "SemanticSegmentor"
    cfg.MODEL.BACKBONE.NAME = "SegNetEncoderBackbone"
    cfg.MODEL.SEM_SEG_HEAD.NAME = "SegNetSemSegHead"
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 11
    cfg.MODEL.SEGCLASSICS.SEGNET.ARCH = "basic"
    cfg.MODEL.SEGCLASSICS.SEGNET.CHANNELS = 64
    cfg.MODEL.DEVICE = "cpu"
    m = build_model(cfg)
    expected = sum(p.numel() for p in SegNetBasic(11).parameters())
    assert sum(p.numel() for p in m.parameters()) == expected
    assert isinstance(m.sem_seg_head, SegNetSemSegHead)


def test_head_names_missing_feature():
    head = SegNetSemSegHead(num_classes=2, arch="basic", channels=4, num_stages=2, kernel_size=3)
    with pytest.raises(KeyError, match="pool2"):
        head({"res5": torch.randn(1, 4, 2, 2)})


def test_camvid_lazy_config_builds_segnet_basic_with_the_measured_weights(repo_root, shared_data):
    cfg = LazyConfig.load(str(repo_root / "configs" / "detectron2" / "segnet_basic_camvid.py"))
    m = instantiate(cfg.model)
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in SegNetBasic(11).parameters())
    assert m.sem_seg_head.ignore_value == 11
    from mmengine.config import Config

    mm = Config.fromfile(str(repo_root / "configs" / "segnet" / "segnet_basic_camvid.py"), import_custom_modules=False)
    assert m.sem_seg_head.class_weights.tolist() == pytest.approx(mm.model.decode_head.loss_decode.class_weight)
    root = shared_data("camvid")
    dicts = instantiate(cfg.dataloader.test.dataset)
    assert len(dicts) == 101
    assert os.path.samefile(os.path.dirname(dicts[0]["sem_seg_file_name"]), root / "labels" / "val")


def test_segnet_metrics_evaluator_matches_the_framework_free_code(tmp_path):
    import numpy as np
    from detectron2.data import MetadataCatalog
    from PIL import Image

    from segclassics.detectron2.segnet_evaluator import SegNetMetricsEvaluator
    from segclassics.evaluation.seg_metrics import SegNetMetrics

    MetadataCatalog.get("segnet_eval_test").set(stuff_classes=["a", "b", "c"], ignore_label=11)
    ev = SegNetMetricsEvaluator("segnet_eval_test", distributed=False)
    ev.reset()
    ref = SegNetMetrics(3, ignore_index=11)
    rng = np.random.default_rng(0)
    for i in range(3):
        gt = rng.integers(0, 3, (20, 24)).astype(np.uint8)
        gt[:3] = 11
        scores = torch.from_numpy(rng.random((3, 20, 24))).float()
        path = tmp_path / f"{i}.png"
        Image.fromarray(gt).save(path)
        ev.process([{"sem_seg_file_name": str(path)}], [{"sem_seg": scores}])
        ref.update(scores.argmax(0).numpy(), gt)
    got = ev.evaluate()["sem_seg"]
    want = ref.compute()
    for k in ("G", "C", "mIoU", "BF"):
        assert got[k] == pytest.approx(want[k])


@pytest.mark.slow
def test_detectron2_training_and_evaluation_run(run_tool, synthetic_root, tmp_path, repo_root):
    r = run_tool(
        "train.py",
        repo_root / "configs" / "detectron2" / "segnet_basic_synthetic.py",
        "--work-dir",
        tmp_path / "work",
        "train.max_iter=3",
        "train.eval_period=3",
        "train.log_period=1",
        f"dataloader.train.dataset.root={synthetic_root}",
        "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0",
        "model.backbone.channels=8",
        "model.sem_seg_head.channels=8",
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    text = r.stdout + r.stderr
    assert "copypaste: G,C,mIoU,BF" in text  # SegNetMetricsEvaluator ran
