"""``OverlapTileSemanticSegmentor``: detectron2's ``SemanticSegmentor`` with the overlap-tile inference of
Ronneberger et al. 2015 (Sec. 2, Fig. 2) for valid-convolution UNets."""

from __future__ import annotations

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, SemanticSegmentor
from detectron2.modeling.postprocessing import sem_seg_postprocess

from segclassics.detectron2.config import part_options
from segclassics.models.overlap_tile import overlap_tile_predict, unet_tile_sizes


@META_ARCH_REGISTRY.register()
class OverlapTileSemanticSegmentor(SemanticSegmentor):
    """Training as ``SemanticSegmentor`` (``PaperUNetSemSegHead`` centre-crops the targets). Inference:
    each image is mirror-padded by the border the network loses, cut into input tiles of
    ``tile_size`` (a size the backbone accepts, paper 572) and the output tiles are stitched, so
    any image size gets a full-size prediction (paper Fig. 2). Tile sizes follow
    ``segclassics.models.overlap_tile.unet_tile_sizes`` (as mmseg's ``OverlapTileEncoderDecoder``):
    a 'same' backbone keeps the centre of each tile.

    Args (besides ``SemanticSegmentor``'s): ``tile_size`` (int or (h, w)), ``batch_tiles``.
    Output: ``[{"sem_seg": (num_classes, height, width)}]`` as ``SemanticSegmentor``.

    yaml: ``MODEL.META_ARCHITECTURE: OverlapTileSemanticSegmentor`` with ``SemanticSegmentor``'s keys
    and ``MODEL.SEGCLASSICS.TILE.{TILE_SIZE,BATCH_TILES}`` (defaults 572, 4: the paper's tile).
    """

    @configurable
    def __init__(self, *, tile_size, batch_tiles: int = 4, **kwargs):
        super().__init__(**kwargs)
        enc = self.backbone.module
        # raises with the nearest valid sizes; 'same' nets keep the tile centre
        self.tile_in, self.tile_out = unet_tile_sizes(tile_size, enc.depth, enc.padding)
        self.batch_tiles = batch_tiles

    @classmethod
    def from_config(cls, cfg):
        return dict(SemanticSegmentor.from_config(cfg), **part_options(cfg, "TILE"))

    def forward(self, batched_inputs):
        if self.training:
            return super().forward(batched_inputs)
        results = []
        for x in batched_inputs:
            img = ((x["image"].to(self.device) - self.pixel_mean) / self.pixel_std)[None]
            logits = overlap_tile_predict(
                lambda t: self.sem_seg_head.layers(self.backbone(t)), img, self.tile_in, self.tile_out, self.batch_tiles
            )[0]
            h, w = img.shape[-2:]
            results.append({"sem_seg": sem_seg_postprocess(logits, (h, w), x.get("height", h), x.get("width", w))})
        return results
