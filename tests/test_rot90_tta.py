"""Quarter-turn augmentation (``Rot90``) and the rotation + flip test (``SegRot90TTAModel``) of the ISBI
2012 configs (Ronneberger et al. 2015, Sec. 3.1 rotation invariance, Sec. 4 outputs averaged over
rotated inputs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("mmseg")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from mmengine.dataset import Compose, pseudo_collate  # noqa: E402
from mmseg.registry import MODELS, TRANSFORMS  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

import segclassics.mmseg  # noqa: E402,F401
from segclassics.engine.config_loader import load_config  # noqa: E402

register_all_modules(init_default_scope=True)
ISBI = "configs/unet/unet_valid_isbi2012.py"
ISBI_CPU = "configs/unet/unet_valid_isbi2012_cpu.py"


def test_rot90_turns_image_and_label_counter_clockwise():
    img = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    seg = img + 10
    results = dict(img=img, gt_seg_map=seg, seg_fields=["gt_seg_map"], ori_shape=(2, 3), img_shape=(2, 3))
    out = TRANSFORMS.build(dict(type="Rot90", k=1))(results)
    assert out["img"].tolist() == [[3, 6], [2, 5], [1, 4]]
    assert out["gt_seg_map"].tolist() == [[13, 16], [12, 15], [11, 14]]
    assert out["img_shape"] == (3, 2) and out["ori_shape"] == (3, 2) and out["rot90_k"] == 1


def test_rot90_half_turn_keeps_the_shapes():
    img = np.arange(6, dtype=np.uint8).reshape(2, 3)
    out = TRANSFORMS.build(dict(type="Rot90", k=2))(dict(img=img, ori_shape=(2, 3), img_shape=(2, 3)))
    assert out["img"].tolist() == [[5, 4, 3], [2, 1, 0]]
    assert out["img_shape"] == (2, 3) and out["ori_shape"] == (2, 3) and out["rot90_k"] == 2


@pytest.mark.parametrize("k", [4, -1, 1.0, True, "1"])
def test_rot90_rejects_other_turns(k):
    with pytest.raises(ValueError) as info:
        TRANSFORMS.build(dict(type="Rot90", k=k))
    assert str(info.value) == f"Rot90: k must be 0, 1, 2, 3 or None (random), got {k!r}"


@pytest.mark.property
@given(
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    channels=st.sampled_from([None, 1, 3]),
    k=st.sampled_from([None, 0, 1, 2, 3]),
    seed=st.integers(0, 2**16),
)
def test_rot90_is_undone_by_the_tta_models_turn_back(h, w, channels, k, seed):
    """Any image and label map, any turn (random ones included): the recorded ``rot90_k`` is the turn
    applied, the label map turns with the image, and the model's turn back restores both."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w) if channels is None else (h, w, channels), dtype=np.uint8)
    seg = rng.integers(0, 2, (h, w), dtype=np.uint8)
    np.random.seed(seed)
    out = TRANSFORMS.build(dict(type="Rot90", k=k))(
        dict(img=img.copy(), gt_seg_map=seg.copy(), seg_fields=["gt_seg_map"], ori_shape=(h, w), img_shape=(h, w))
    )
    turn = out["rot90_k"]
    assert turn in (0, 1, 2, 3) and (k is None or turn == k)
    assert np.array_equal(out["img"], np.rot90(img, turn, axes=(0, 1)))
    assert np.array_equal(out["gt_seg_map"], np.rot90(seg, turn))
    assert out["ori_shape"] == ((w, h) if turn % 2 else (h, w)) == out["img_shape"]
    back = torch.rot90(torch.from_numpy(out["gt_seg_map"].copy())[None], -turn, dims=(1, 2))[0]
    assert np.array_equal(back.numpy(), seg)


def test_isbi_tta_pipeline_is_the_eight_turns_and_reflections():
    cfg = load_config(ISBI, []).cfg
    assert cfg.tta_model == dict(type="SegRot90TTAModel")
    turns, flips = cfg.tta_pipeline[1].transforms[0], cfg.tta_pipeline[1].transforms[1]
    assert [(t.type, t.k) for t in turns] == [("Rot90", k) for k in range(4)]
    assert [(t.type, t.prob, t.direction) for t in flips] == [
        ("RandomFlip", 0.0, "horizontal"),
        ("RandomFlip", 1.0, "horizontal"),
    ]


def test_rotation_flip_test_equals_the_average_over_the_dihedral_views(tmp_path):
    """The config's tta_pipeline + SegRot90TTAModel on a non-square image predict the argmax of the mean
    softmax of the eight views, each turned back by hand (reference computation on tensors)."""
    h, w = 70, 97
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (h, w), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "slice.png")
    Image.fromarray((image > 127).astype(np.uint8)).save(tmp_path / "label.png")

    cfg = load_config(ISBI_CPU, []).cfg
    torch.manual_seed(0)
    tta = MODELS.build(dict(cfg.tta_model, module=cfg.model)).eval()
    views = Compose(cfg.tta_pipeline)(
        dict(
            img_path=str(tmp_path / "slice.png"),
            seg_map_path=str(tmp_path / "label.png"),
            reduce_zero_label=False,
            seg_fields=[],
        )
    )
    assert len(views["inputs"]) == 8
    with torch.no_grad():
        merged = tta.test_step(pseudo_collate([views]))[0].pred_sem_seg.data

        segmentor = tta.module
        x = (torch.from_numpy(image).float()[None, None] - 127.5) / 127.5
        scores = torch.zeros(2, h, w)
        for k in range(4):
            for flip in (False, True):
                view = torch.rot90(x, k, dims=(2, 3))
                view = view.flip(3) if flip else view
                meta = dict(img_shape=view.shape[2:], ori_shape=view.shape[2:], pad_shape=view.shape[2:])
                s = segmentor.inference(view, [meta])[0]
                s = s.flip(2) if flip else s
                scores += torch.rot90(s, -k, dims=(1, 2)).softmax(dim=0)
        one_view = segmentor.inference(x, [dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w))])[0]
    assert merged.shape == (1, h, w)
    assert torch.equal(merged[0], scores.argmax(dim=0))
    assert not torch.equal(merged[0], one_view.argmax(dim=0))  # the views do change the answer
