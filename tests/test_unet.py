"""UNet (Ronneberger et al. 2015): architecture, size helpers, overlap-tile, weight map, elastic
deformation, binary metrics -- framework-free parts (plain torch / numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from helpers import paper_unet_param_count
from segclassics.datasets.unet_augment import border_distances, elastic_deform, instances_from_semantic, unet_weight_map
from segclassics.evaluation.binary import (
    BinaryConfusion,
    BinarySegAccumulator,
    dice_score,
    pixel_error,
    rand_error_binary,
    rand_scores,
)
from segclassics.models.overlap_tile import mirror_pad, overlap_tile_predict
from segclassics.models.unet import (
    UNet,
    check_labels,
    unet_border,
    unet_input_size_for_output,
    unet_output_size,
    unet_valid_sizes,
)


def _tiny(depth=3, padding="valid", base=2, in_ch=1, classes=2, norm=None, seed=0):
    torch.manual_seed(seed)
    return UNet(in_ch, classes, base_channels=base, depth=depth, padding=padding, norm=norm).eval()


# ------------------------------------------------------------------------------ architecture
def test_paper_shape_572_to_388():
    # Paper Fig. 1: 572x572 input tile -> 388x388 output segmentation map. The shape does not
    # depend on the width, so a narrow net keeps the test fast.
    m = _tiny(depth=5, base=2)
    with torch.no_grad():
        out = m(torch.zeros(1, 1, 572, 572))
    assert out.shape == (1, 2, 388, 388)
    assert unet_output_size(572) == (388, 388)
    assert unet_border() == (572 - 388) // 2


def test_paper_param_count_and_23_convs():
    m = UNet(in_channels=1, num_classes=2)  # paper defaults: base 64, depth 5, valid, no norm
    got = sum(p.numel() for p in m.parameters())
    assert got == paper_unet_param_count()
    assert round(got / 1e6, 1) == 31.0  # "about 31.0 M" as the issue states
    convs = [mod for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(convs) == 23  # "In total the network has 23 convolutional layers."


def test_init_std_is_sqrt_2_over_n():
    m = UNet(1, 2, base_channels=16, depth=3)
    conv = m.encoder.blocks[1][0]  # 3x3 conv, 16 -> 32 channels: N = 9 * 16
    assert abs(conv.weight.std().item() - math.sqrt(2 / (9 * 16))) < 0.1 * math.sqrt(2 / (9 * 16))


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_valid_size_helper_matches_forward(depth):
    sizes = unet_valid_sizes(depth=depth, padding="valid", max_size=140)
    assert sizes, "some valid size below 140"
    m = _tiny(depth=depth)
    for h, w in [(sizes[0], sizes[1]), (sizes[2], sizes[0]), (sizes[-1], sizes[-1])]:
        with torch.no_grad():
            out = m(torch.zeros(1, 1, h, w))
        assert tuple(out.shape[-2:]) == unet_output_size((h, w), depth)
    # sizes between two consecutive valid sizes are rejected by the helper and the net
    bad = sizes[0] + 1
    with pytest.raises(ValueError, match="Nearest valid sizes"):
        unet_output_size(bad, depth)
    with pytest.raises(ValueError, match="not valid"):
        m(torch.zeros(1, 1, bad, bad))


def test_valid_size_error_names_nearest_sizes():
    with pytest.raises(ValueError) as e:
        unet_output_size((512, 572))
    msg = str(e.value)
    near = [int(s) for s in msg.split("Nearest valid sizes: [")[1].split("]")[0].split(",")]
    assert len(near) == 2 and near[0] < 512 < near[1]
    for s in near:  # the named sizes really are valid
        assert unet_output_size(s)[0] > 0
    assert "overlap-tile" in msg


def test_same_padding_sizes_and_input_for_output():
    assert unet_valid_sizes(depth=4, padding="same", max_size=40) == [8, 16, 24, 32, 40]
    m = _tiny(depth=4, padding="same")
    assert m(torch.zeros(1, 1, 24, 40)).shape == (1, 2, 24, 40)
    with pytest.raises(ValueError, match="multiple of 8"):
        m(torch.zeros(1, 1, 20, 40))
    s = unet_input_size_for_output(100, depth=5)
    assert unet_output_size(s)[0] >= 100 and unet_output_size(s[0] - 16)[0] < 100


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="padding must be one of"):
        UNet(padding="reflect")
    with pytest.raises(
        ValueError, match=r"UNet norm \(None = paper\) must be one of None, 'BN', 'SyncBN', 'GN', got 'bn'"
    ):
        UNet(norm="bn")
    with pytest.raises(ValueError, match=r"expects \(N, 3, H, W\)"):
        UNet(3, 2, 2, 2, "same")(torch.zeros(1, 1, 8, 8))


def test_labels_out_of_range_error():
    check_labels(torch.tensor([0, 1, 255]), num_classes=2)
    with pytest.raises(ValueError, match=r"\[2\] outside the classes 0..1"):
        check_labels(torch.tensor([0, 1, 2]), num_classes=2)
    check_labels(torch.tensor([0, 1]), num_classes=1)  # sigmoid binary: 0/1 labels


# ------------------------------------------------------------------------------ overlap-tile
def test_mirror_pad_matches_numpy_reflect():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    ref = np.pad(x.numpy(), ((0, 0), (0, 0), (2, 7), (5, 1)), mode="reflect")  # pads larger than the image
    assert np.array_equal(mirror_pad(x, 2, 7, 5, 1).numpy(), ref)


def test_overlap_tile_equals_single_pass_when_image_fits_one_tile():
    m = _tiny(depth=3, base=4, seed=1)
    tile_in = unet_valid_sizes(3, "valid", max_size=200)[3]
    tile_out = unet_output_size(tile_in, 3)[0]
    b = (tile_in - tile_out) // 2
    img = torch.rand(1, 1, tile_out, tile_out)
    ref = m(torch.from_numpy(np.pad(img.numpy(), ((0, 0), (0, 0), (b, b), (b, b)), mode="reflect")))
    got = overlap_tile_predict(m, img, tile_in, tile_out)
    assert got.shape == (1, 2, tile_out, tile_out)
    assert torch.allclose(got, ref, atol=1e-6)


def test_overlap_tile_any_size_full_output_and_tiles_are_net_outputs():
    m = _tiny(depth=3, base=4, seed=2)
    tile_in = unet_valid_sizes(3, "valid", max_size=200)[2]
    tile_out = unet_output_size(tile_in, 3)[0]
    b = (tile_in - tile_out) // 2
    h, w = 2 * tile_out, tile_out + 5  # not a multiple of the tile: last column tile shifted back
    img = torch.rand(2, 1, h, w)
    got = overlap_tile_predict(m, img, tile_in, tile_out, batch_tiles=3)
    assert got.shape == (2, 2, h, w)
    padded = torch.from_numpy(np.pad(img.numpy(), ((0, 0), (0, 0), (b, b), (b, b)), mode="reflect"))
    # the top-left and bottom-left tiles do not overlap any other tile: exact network outputs
    for y in (0, tile_out):
        ref = m(padded[..., y : y + tile_in, 0:tile_in])
        assert torch.allclose(
            got[..., y : y + tile_out, :tile_out][..., :, : w - tile_out], ref[..., : w - tile_out], atol=1e-6
        )
    small = overlap_tile_predict(m, torch.rand(1, 1, 7, 9), tile_in, tile_out)  # smaller than a tile
    assert small.shape == (1, 2, 7, 9)


def test_overlap_tile_with_same_net_crops_centre():
    """A 'same' net returns the input tile's size; only the centre ``tile_out`` of each output is kept
    (border 4 on each side here), at the position of the tile's centre in the image."""
    m = _tiny(depth=2, padding="same", base=4)
    img = torch.rand(1, 1, 16, 16)  # 2 x 2 output tiles of 8, no overlap
    got = overlap_tile_predict(m, img, tile_in=16, tile_out=8)
    assert got.shape == (1, 2, 16, 16)
    padded = torch.from_numpy(np.pad(img.numpy(), ((0, 0), (0, 0), (4, 4), (4, 4)), mode="reflect"))
    with torch.no_grad():
        for y in (0, 8):
            for x in (0, 8):
                ref = m(padded[..., y : y + 16, x : x + 16])[..., 4:12, 4:12]
                assert torch.allclose(got[..., y : y + 8, x : x + 8], ref, atol=1e-6), (y, x)
    assert overlap_tile_predict(m, torch.rand(1, 1, 10, 12), tile_in=16, tile_out=8).shape == (1, 2, 10, 12)
    with pytest.raises(ValueError, match="even number"):
        overlap_tile_predict(m, img, tile_in=16, tile_out=7)


# ------------------------------------------------------------------------------ weight map
def _touching_cells():
    lab = np.zeros((40, 60), np.int64)
    lab[5:35, 5:29] = 1  # cell A
    lab[5:35, 30:54] = 1  # cell B, separated from A by the 1-px membrane column 29
    return lab


def test_weight_map_peaks_between_touching_cells():
    lab = _touching_cells()
    w0, sigma = 10.0, 5.0
    wmap = unet_weight_map(lab, w0=w0, sigma=sigma, class_weights=None)
    # the membrane column 29 between the cells has d1 = d2 = 1 pixel
    peak = 1.0 + w0 * math.exp(-((1 + 1) ** 2) / (2 * sigma**2))
    assert np.allclose(wmap[5:35, 29], peak, atol=1e-5)
    assert wmap.max() == pytest.approx(peak, abs=1e-5)
    assert np.unravel_index(np.argmax(wmap), wmap.shape)[1] == 29
    # cell pixels get w_c only (border term on background pixels), far background ~ w_c
    assert np.allclose(wmap[lab == 1], 1.0)
    assert wmap[0, 0] < 1.0 + w0 * math.exp(-((5 + 25) ** 2) / (2 * sigma**2)) + 1e-6
    # literal Eq. (2): applied everywhere
    lit = unet_weight_map(lab, w0=w0, sigma=sigma, class_weights=None, background_only=False)
    assert lit[20, 28] > 1.0  # cell pixel next to the gap gets a border term too


def test_weight_map_distances_and_class_balance():
    lab = _touching_cells()
    d1, d2 = border_distances(instances_from_semantic(lab))
    assert d1[20, 29] == 1 and d2[20, 29] == 1
    assert d1[20, 10] == 0 and d2[20, 10] == pytest.approx(20.0)  # inside A, 20 px to B (col 30)
    w = unet_weight_map(lab, w0=0.0)  # only w_c, balanced: mean 1 over labelled pixels
    assert w.mean() == pytest.approx(1.0, rel=1e-5)
    n_fg, n_bg = (lab == 1).sum(), (lab == 0).sum()
    assert w[lab == 0][0] == pytest.approx(lab.size / (2 * n_bg))
    assert w[lab == 1][0] == pytest.approx(lab.size / (2 * n_fg))
    with pytest.raises(ValueError, match="outside 0..1"):
        unet_weight_map(np.full((4, 4), 3))


def test_elastic_deformation():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)
    lab = (rng.random((48, 40)) > 0.5).astype(np.uint8)
    same_img, same_lab = elastic_deform(img, lab, sigma=0.0)
    assert np.array_equal(same_img, img) and np.array_equal(same_lab, lab)  # zero displacement
    a = elastic_deform(img, lab, sigma=10.0, rng=np.random.default_rng(1))
    b = elastic_deform(img, lab, sigma=10.0, rng=np.random.default_rng(1))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].shape == img.shape and a[0].dtype == np.uint8
    assert set(np.unique(a[1])) <= {0, 1}  # nearest neighbour keeps labels labels
    assert not np.array_equal(a[0], img)


# ------------------------------------------------------------------------------ metrics
def test_dice_and_pixel_error_hand_made():
    target = np.array([[1, 1, 0, 0], [0, 0, 0, 0]])
    pred = np.array([[1, 0, 1, 0], [0, 0, 0, 0]])
    # TP = 1, FP = 1, FN = 1 -> Dice = 2 / 4; 2 wrong pixels of 8
    assert dice_score(pred, target) == pytest.approx(0.5)
    assert pixel_error(pred, target) == pytest.approx(2 / 8)
    mask = np.array([[1, 1, 0, 1], [1, 1, 1, 1]])  # FOV hides the false positive
    assert dice_score(pred, target, mask) == pytest.approx(2 / 3)
    assert pixel_error(pred, target, mask) == pytest.approx(1 / 7)
    acc = BinarySegAccumulator()
    acc.update(pred, target)
    acc.update(target, target)
    res = acc.compute()
    assert res["dice"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))  # from summed counts
    assert res["mean_image_dice"] == pytest.approx((0.5 + 1.0) / 2)
    with pytest.raises(ValueError, match="binary 0/1"):
        dice_score(np.array([0, 2]), np.array([0, 1]))
    assert BinaryConfusion().update(np.zeros(3), np.zeros(3)).dice() == 1.0


def _rand_bruteforce(a, b):
    """Reference: pair counting over all pixel pairs (i != j counted both ways + self pairs)."""
    a, b = np.ravel(a), np.ravel(b)
    keep = a != 0
    a, b = a[keep], b[keep]
    same_a = a[:, None] == a[None, :]
    same_b = b[:, None] == b[None, :]
    both = (same_a & same_b).sum()
    split = both / same_a.sum()  # pairs together in the truth kept together
    merge = both / same_b.sum()  # pairs together in the prediction together in the truth
    return 1 - 2 * split * merge / (split + merge)


def test_rand_error_hand_made():
    t = np.array([[1, 1, 0, 2, 2], [1, 1, 0, 2, 2]])
    assert rand_scores(t, t)["rand_error"] == pytest.approx(0.0)
    merged = np.where(t > 0, 1, 0)  # both cells predicted as one region
    split = np.array([[1, 3, 0, 2, 2], [1, 3, 0, 2, 2]])
    for p in (merged, split, np.zeros_like(t), np.arange(10).reshape(2, 5)):
        assert rand_scores(t, p)["rand_error"] == pytest.approx(_rand_bruteforce(t, p))
    assert rand_scores(t, merged)["rand_error"] > 0 and rand_scores(t, merged)["rand_split"] == pytest.approx(1.0)
    assert rand_scores(t, split)["rand_merge"] == pytest.approx(1.0) and rand_scores(t, split)["rand_split"] < 1
    # binary cell maps: a missing membrane merges two cells
    fg = t > 0
    assert rand_error_binary(fg, fg) == pytest.approx(0.0)
    assert rand_error_binary(np.ones_like(fg), fg) == pytest.approx(_rand_bruteforce(t, np.ones_like(t)))


# ------------------------------------------------------------------------------ training
def test_short_training_lowers_loss():
    torch.manual_seed(0)
    m = UNet(1, 2, base_channels=4, depth=3, padding="valid").train()
    tile_in = unet_valid_sizes(3, "valid", max_size=100)[0]
    tile_out = unet_output_size(tile_in, 3)[0]
    yy, xx = torch.meshgrid(torch.arange(tile_in), torch.arange(tile_in), indexing="ij")
    img = ((yy // 8 + xx // 8) % 2).float()[None, None]  # checkerboard: label = square colour
    label = img[0, 0].long()
    b = (tile_in - tile_out) // 2
    target = label[b : b + tile_out, b : b + tile_out][None]
    weight = torch.from_numpy(unet_weight_map(target[0].numpy(), w0=10, sigma=5))[None]
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.99)  # paper Sec. 3: momentum 0.99
    losses = []
    for _ in range(30):
        loss = (nn.functional.cross_entropy(m(img), target, reduction="none") * weight).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


# ------------------------------------------------------------------------------ DRIVE converter
def test_drive_converter(tmp_path, shared_data):
    import shutil

    from PIL import Image

    src = shared_data("drive")
    raw = tmp_path / "raw"  # one image per split, same layout as the download
    for split, num in (("training", "21"), ("test", "01")):
        for sub, name in (
            ("images", f"{num}_{split}.tif"),
            ("1st_manual", f"{num}_manual1.gif"),
            ("mask", f"{num}_{split}_mask.gif"),
        ):
            (raw / split / sub).mkdir(parents=True)
            shutil.copy(src / split / sub / name, raw / split / sub / name)
    from segclassics.datasets.drive import convert

    counts = convert(str(raw), str(tmp_path / "out"))
    assert counts == {"training": 1, "test": 1}
    lab = np.asarray(Image.open(tmp_path / "out/ann_dir/test/01.png"))
    fov = np.asarray(Image.open(tmp_path / "out/fov_dir/test/01.png"))
    gif = np.asarray(Image.open(src / "test/1st_manual/01_manual1.gif").convert("L"))
    assert set(np.unique(lab)) == {0, 1} and np.array_equal(lab == 1, gif > 127)
    assert set(np.unique(fov)) == {0, 1}
    assert np.asarray(Image.open(tmp_path / "out/img_dir/training/21.png")).shape == gif.shape + (3,)
    (raw / "test" / "mask" / "01_test_mask.gif").unlink()
    with pytest.raises(FileNotFoundError, match="FOV mask"):
        convert(str(raw), str(tmp_path / "out2"))


def test_elastic_displacement_is_bicubic_through_grid():
    from scipy import ndimage

    from segclassics.datasets.unet_augment import elastic_displacement

    d = elastic_displacement((41, 61), sigma=10, grid=3, rng=np.random.default_rng(3))
    coarse = np.random.default_rng(3).normal(0, 10, size=(2, 3, 3))
    # the field passes through the 3x3 grid values (corners, edge midpoints, centre)
    assert np.allclose(d[:, ::20, ::30], coarse, atol=1e-9)
    gy, gx = np.meshgrid(np.linspace(0, 2, 41), np.linspace(0, 2, 61), indexing="ij")
    ref = np.stack([ndimage.map_coordinates(c, [gy, gx], order=3, mode="nearest") for c in coarse])
    assert np.allclose(d, ref, atol=1e-9)  # 2-D cubic spline interpolation
