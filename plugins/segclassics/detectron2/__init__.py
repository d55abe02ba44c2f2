"""Register segclassics parts in detectron2's registries.

Importing this package needs neither mmcv nor any OpenMMLab package. detectron2's
yaml configs name our parts (``MODEL.BACKBONE.NAME``, ``MODEL.SEM_SEG_HEAD.NAME``); lazy
configs may also reference the classes directly.
"""

# Import order kept (ruff's isort is off here): each import registers or patches at import time.
# isort: off
from . import safe_yaml  # noqa: F401  (yaml configs read with safe loading only)
from . import checkpointer  # noqa: F401  (every DetectionCheckpointer reads through the reader)
from . import synthetic  # noqa: F401
from . import vit_backbone  # noqa: F401
from . import paper_unet_backbone  # noqa: F401
from . import paper_unet_head  # noqa: F401
from . import overlap_tile_segmentor  # noqa: F401
from . import segnet_backbone  # noqa: F401
from . import segnet_head  # noqa: F401
from . import vgg16_backbone  # noqa: F401
from . import fcn_head  # noqa: F401
from . import setr_head  # noqa: F401
from . import coco_instances  # noqa: F401
from . import instance_datasets  # noqa: F401  (registers the Mask R-CNN configs' datasets by name)
from . import camvid  # noqa: F401  (registers camvid_sem_seg_* by name)
from . import voc  # noqa: F401  (registers voc_2012_sem_seg_* by name)
from segclassics.utils.hub_reading import read_hub_downloads_checked
# isort: on

read_hub_downloads_checked()  # torch hub's and torchvision's URL checkpoints go through the reader too

# Like detectron2's builtin datasets: register our default dataset names at import, so yaml
# configs can name them in DATASETS.TRAIN/TEST. Registration is lazy (the synthetic data is
# generated on first use); SEGCLASSICS_SYNTHETIC_ROOT moves it.
synthetic.register_synthetic()
