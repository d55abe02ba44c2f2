"""The one norm vocabulary of segclassics.models (None / 'BN' / 'SyncBN' / 'GN') and shared tiny helpers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segclassics.models.norm import NORMS, build_norm, check_norm
from segclassics.models.setr_heads import SETRUpHead
from segclassics.models.size import pair
from segclassics.models.unet import UNet
from segclassics.models.vgg import VGG16


def test_layers_per_name():
    assert NORMS == (None, "BN", "SyncBN", "GN")
    assert build_norm(None, 8) is None
    assert type(build_norm("BN", 8)) is nn.BatchNorm2d
    assert type(build_norm("SyncBN", 8)) is nn.SyncBatchNorm  # real SyncBN, never a plain BatchNorm2d
    gn = build_norm("GN", 64)
    assert type(gn) is nn.GroupNorm and gn.num_groups == 32  # Wu & He's default group count
    assert build_norm("GN", 24).num_groups == 1  # not a multiple of 32: one group (LayerNorm over C, H, W)
    assert build_norm("BN", 8, momentum=0.01).momentum == 0.01


def test_every_model_takes_the_same_names():
    def kinds(m):
        return {type(x) for x in m.modules() if isinstance(x, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm))}

    for norm, cls in (("BN", nn.BatchNorm2d), ("SyncBN", nn.SyncBatchNorm), ("GN", nn.GroupNorm)):
        assert kinds(UNet(1, 2, 4, 2, "same", norm)) == {cls}
        assert kinds(VGG16(norm=norm, with_fc=False, widths=(4, 4, 4, 4, 4))) == {cls}
        assert kinds(SETRUpHead(8, 4, 2, num_convs=2, kernel_size=3, norm=norm)) == {cls}
    assert kinds(UNet(1, 2, 4, 2)) == set() and kinds(VGG16(with_fc=False, widths=(4, 4, 4, 4, 4))) == set()


def test_syncbn_in_one_process_computes_batchnorm():
    """Without a process group there is nothing to synchronise: SyncBN's batch statistics are the
    batch's, exactly BatchNorm's (training and eval)."""
    torch.manual_seed(0)
    x = torch.randn(4, 8, 5, 5)
    bn, sync = build_norm("BN", 8), build_norm("SyncBN", 8)
    sync.load_state_dict(bn.state_dict())
    torch.testing.assert_close(sync(x), bn(x), rtol=0, atol=0)
    torch.testing.assert_close(sync.running_var, bn.running_var, rtol=0, atol=0)
    sync.eval(), bn.eval()
    torch.testing.assert_close(sync(x), bn(x), rtol=0, atol=0)


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"norm must be one of None, 'BN', 'SyncBN', 'GN', got 'bn'"):
        check_norm("bn")
    with pytest.raises(ValueError, match=r"VGG16 norm must be one of None, 'BN', 'SyncBN', 'GN', got True"):
        VGG16(norm=True)
    with pytest.raises(ValueError, match="followed by a norm layer"):
        SETRUpHead(8, 4, 2, num_convs=1, norm=None)


def test_pair():
    assert pair(7) == (7, 7) and pair((5, 6)) == (5, 6) and pair([3, 4]) == (3, 4)
    with pytest.raises(ValueError, match=r"tile_size must be an int or a pair \(H, W\), got \(1, 2, 3\)"):
        pair((1, 2, 3), "tile_size")
