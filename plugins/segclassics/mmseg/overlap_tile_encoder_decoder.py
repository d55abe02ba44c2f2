"""``OverlapTileEncoderDecoder``: mmseg's ``EncoderDecoder`` plus the overlap-tile inference of
Ronneberger et al. 2015 (Sec. 2, Fig. 2) for networks with unpadded convolutions."""

from __future__ import annotations

from typing import List

import torch
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS

from ..models.overlap_tile import overlap_tile_predict, unet_tile_sizes


@MODELS.register_module()
class OverlapTileEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` whose ``test_cfg.mode='overlap_tile'`` predicts full-size maps for any image
    size with a valid-convolution UNet (paper Fig. 2): the image is mirror-padded by the border the
    network loses, cut into input tiles of ``tile_size`` whose output tiles cover the image, and the
    outputs are stitched. Other modes (``'whole'``, ``'slide'``) behave as in ``EncoderDecoder``.

    Training is unchanged: ``PaperUNetHead`` centre-crops the labels to its output.

    test_cfg keys for ``mode='overlap_tile'``:
        tile_size: input tile ``(h, w)`` (or int); must be a size the backbone accepts (paper 572).
            The output tile size is derived from the backbone's ``depth``/``padding``
            (``segclassics.models.overlap_tile.unet_tile_sizes``; 'same' nets keep the centre).
        batch_tiles: tiles per forward pass (default 4).

    Shapes: ``predict`` takes ``(N, C, H, W)`` images of any ``H, W`` and returns ``SegDataSample``
    with ``(H, W)`` ``pred_sem_seg`` / ``seg_logits``.
    """

    def _tile_sizes(self):
        tile = self.test_cfg.get("tile_size", None)
        if tile is None:
            raise ValueError(
                "test_cfg mode='overlap_tile' needs tile_size=(h, w): an input tile size the network "
                "accepts, e.g. 572 for the paper net"
            )
        enc = getattr(self.backbone, "module", None)
        depth, padding = getattr(enc, "depth", None), getattr(enc, "padding", None)
        if depth is None:
            raise ValueError("overlap_tile inference needs a PaperUNetEncoder backbone (it reads depth and padding)")
        return unet_tile_sizes(tile, depth, padding)  # raises with the nearest valid tile sizes

    def inference(self, inputs: torch.Tensor, batch_img_metas: List[dict]) -> torch.Tensor:
        if self.test_cfg.get("mode", "whole") != "overlap_tile":
            return super().inference(inputs, batch_img_metas)
        tile_in, tile_out = self._tile_sizes()

        def forward(x):
            return self.decode_head.forward(self.extract_feat(x))

        return overlap_tile_predict(forward, inputs, tile_in, tile_out, self.test_cfg.get("batch_tiles", 4))
