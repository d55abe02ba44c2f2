"""UNet in detectron2: registries, centre-cropped targets for the valid net, overlap-tile inference,
the LazyConfig, a short training run (Ronneberger et al. 2015)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("detectron2")

from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY, SEM_SEG_HEADS_REGISTRY, SemanticSegmentor  # noqa: E402

import segclassics.detectron2  # noqa: E402,F401
from segclassics.detectron2.overlap_tile_segmentor import OverlapTileSemanticSegmentor  # noqa: E402
from segclassics.detectron2.paper_unet_backbone import PaperUNetBackbone  # noqa: E402
from segclassics.detectron2.paper_unet_head import PaperUNetSemSegHead  # noqa: E402
from segclassics.models.overlap_tile import overlap_tile_predict  # noqa: E402
from segclassics.models.unet import unet_output_size, unet_valid_sizes  # noqa: E402


def test_registered():
    assert "build_paper_unet_backbone" in BACKBONE_REGISTRY
    assert "PaperUNetSemSegHead" in SEM_SEG_HEADS_REGISTRY
    assert "OverlapTileSemanticSegmentor" in META_ARCH_REGISTRY


def _valid_model(tile):
    torch.manual_seed(0)
    b = PaperUNetBackbone(3, 4, 3, "valid")
    h = PaperUNetSemSegHead(b.output_shape(), num_classes=3, base_channels=4, depth=3, padding="valid")
    return OverlapTileSemanticSegmentor(
        backbone=b, sem_seg_head=h, pixel_mean=[0, 0, 0], pixel_std=[255, 255, 255], tile_size=tile
    )


def test_valid_training_crops_targets_and_inference_is_full_size():
    tile = unet_valid_sizes(3, "valid", max_size=200)[2]
    out = unet_output_size(tile, 3)[0]
    m = _valid_model(tile).train()
    target = torch.randint(0, 3, (tile, tile))
    losses = m([{"image": torch.rand(3, tile, tile) * 255, "sem_seg": target}])
    assert set(losses) == {"loss_sem_seg"} and torch.isfinite(losses["loss_sem_seg"])
    # loss uses the centre of the target (the output tile), so a target changed only at the border
    # (outside the output tile) gives the same loss
    edge = target.clone()
    b = (tile - out) // 2
    edge[:b] = (edge[:b] + 1) % 3
    img = torch.rand(3, tile, tile) * 255
    with torch.no_grad():
        l1 = m([{"image": img, "sem_seg": target}])["loss_sem_seg"]
        l2 = m([{"image": img, "sem_seg": edge}])["loss_sem_seg"]
    assert torch.allclose(l1, l2)
    m.eval()
    res = m([{"image": torch.rand(3, 37, 53) * 255, "height": 37, "width": 53}])
    assert res[0]["sem_seg"].shape == (3, 37, 53)
    with pytest.raises(ValueError, match="Nearest valid sizes"):
        _valid_model(tile + 1)


def test_overlap_tile_inference_matches_model_function():
    tile = unet_valid_sizes(3, "valid", max_size=200)[2]
    m = _valid_model(tile).eval()
    img = torch.rand(3, 40, 30) * 255
    with torch.no_grad():
        got = m([{"image": img}])[0]["sem_seg"]
        ref = overlap_tile_predict(
            lambda t: m.sem_seg_head.layers(m.backbone(t)), (img / 255)[None], tile, unet_output_size(tile, 3)
        )[0]
    assert torch.allclose(got, ref, atol=1e-5)


def test_overlap_tile_with_a_same_net_keeps_tile_centres_as_mmseg_does():
    """The tile rule lives in segclassics.models.overlap_tile.unet_tile_sizes (mmseg's
    OverlapTileEncoderDecoder uses it too): a 'same' net's 32-pixel tiles keep their centre 16 pixels
    (a margin of a quarter tile, 8, on each side)."""
    from segclassics.models.overlap_tile import unet_tile_sizes

    torch.manual_seed(0)
    b = PaperUNetBackbone(3, 4, 3, "same")
    h = PaperUNetSemSegHead(b.output_shape(), num_classes=3, base_channels=4, depth=3, padding="same")
    m = OverlapTileSemanticSegmentor(
        backbone=b, sem_seg_head=h, pixel_mean=[0, 0, 0], pixel_std=[255, 255, 255], tile_size=32
    ).eval()
    assert (m.tile_in, m.tile_out) == unet_tile_sizes(32, 3, "same") == ((32, 32), (16, 16))
    img = torch.rand(3, 40, 30) * 255
    with torch.no_grad():
        got = m([{"image": img}])[0]["sem_seg"]
        ref = overlap_tile_predict(lambda t: m.sem_seg_head.layers(m.backbone(t)), (img / 255)[None], 32, 16)[0]
    assert got.shape == (3, 40, 30) and torch.allclose(got, ref, atol=1e-5)


def test_bad_labels_are_clear():
    tile = unet_valid_sizes(3, "valid", max_size=200)[0]
    m = _valid_model(tile).train()
    with pytest.raises(ValueError, match="outside the classes"):
        m([{"image": torch.rand(3, tile, tile), "sem_seg": torch.full((tile, tile), 7)}])


def test_head_checks_backbone_channels():
    b = PaperUNetBackbone(3, 8, 3, "same")
    with pytest.raises(ValueError, match="expected base_channels"):
        PaperUNetSemSegHead(b.output_shape(), num_classes=2, base_channels=4, depth=3)


def test_same_net_short_training_lowers_loss():
    torch.manual_seed(0)
    b = PaperUNetBackbone(3, 4, 3, "same", norm="BN")
    h = PaperUNetSemSegHead(b.output_shape(), num_classes=2, base_channels=4, depth=3, padding="same", norm="BN")
    m = SemanticSegmentor(backbone=b, sem_seg_head=h, pixel_mean=[0, 0, 0], pixel_std=[255, 255, 255]).train()
    yy, xx = torch.meshgrid(torch.arange(30), torch.arange(30), indexing="ij")
    target = ((yy - 15) ** 2 + (xx - 15) ** 2 < 80).long()  # a disk; padded by detectron2 to 32x32
    img = (target * 200 + 20).float()[None].repeat(3, 1, 1)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = m([{"image": img, "sem_seg": target}])["loss_sem_seg"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3
    m.eval()
    assert m([{"image": img}])[0]["sem_seg"].shape == (2, 30, 30)


def test_lazy_config_builds(repo_root):
    from detectron2.config import LazyConfig, instantiate

    cfg = LazyConfig.load(str(repo_root / "configs/detectron2/unet_synthetic.py"))
    model = instantiate(cfg.model)
    assert isinstance(model.backbone, PaperUNetBackbone) and model.backbone.size_divisibility == 8
    model.eval()
    with torch.no_grad():
        out = model([{"image": torch.rand(3, 50, 44) * 255}])
    assert out[0]["sem_seg"].shape == (6, 50, 44)
