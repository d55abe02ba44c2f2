"""mmengine's local visualization backend writing through :mod:`segclassics.utils.writer`.

``tools/test.py --show-dir DIR`` draws every prediction with the framework's visualizer; mmengine's
``LocalVisBackend`` writes those overlays with ``cv2.imwrite`` (and mmdet's visualization hook,
given an output folder, writes ``<folder>/<image file name>`` with ``mmcv.imwrite``): a second run
into the same folder replaces the first run's overlays without a word, and ``--show-dir`` naming a
dataset's image folder would replace the dataset's own images by overlays. This backend writes each
overlay, and the config it records, through the writer: a file this run did not write is replaced
only with ``--overwrite``, a folder of images that are not our predictions is never written into,
and the overlays carry the prediction mark (so a later ``--overwrite`` run may replace them).
"""

from __future__ import annotations

import os.path as osp

from mmengine.registry import VISBACKENDS
from mmengine.visualization.vis_backend import LocalVisBackend, force_init_env

from segclassics.utils.writer import save_png, write_text


@VISBACKENDS.register_module()
class CheckedLocalVisBackend(LocalVisBackend):
    """``LocalVisBackend`` (same folders and names: ``<save_dir>/vis_image/<name>_<step>.png``)
    whose images and config go through the writer."""

    @force_init_env
    def add_image(self, name: str, image, step: int = 0, **kwargs) -> None:
        """``image``: RGB ``uint8`` array, as mmengine's visualizers give it."""
        save_png(osp.join(self._img_save_dir, f"{name}_{step}.png"), image, what="--show-dir")

    @force_init_env
    def add_config(self, config, **kwargs) -> None:
        write_text(self._config_save_file, config.pretty_text, what="--show-dir")
