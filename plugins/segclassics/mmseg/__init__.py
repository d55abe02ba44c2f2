"""Register segclassics parts in MMSegmentation's registries.

Use from a config with::

    custom_imports = dict(imports=['segclassics.mmseg'], allow_failed_imports=False)

Importing this package never imports detectron2.

Importing it also lets configs loaded afterwards inherit ours by package reference,
``_base_ = ['segclassics::unet/unet_synthetic.py']`` (see ``segclassics.openmmlab.config_prefix``).
"""

# Import order kept (ruff's isort is off here): each import registers or patches at import time.
# isort: off
# One import per registered file; each file registers one class (mmseg's projects/ style).
from . import synthetic_dataset  # noqa: F401
from . import paper_unet_encoder  # noqa: F401
from . import paper_unet_head  # noqa: F401
from . import overlap_tile_encoder_decoder  # noqa: F401
from . import mirror_pad_border  # noqa: F401
from . import rot90  # noqa: F401
from . import seg_rot90_tta_model  # noqa: F401
from . import unet_weight_map  # noqa: F401
from . import elastic_deformation  # noqa: F401
from . import pack_seg_inputs_with_weight  # noqa: F401
from . import isbi2012_dataset  # noqa: F401
from . import drive_fov_dataset  # noqa: F401
from . import binary_seg_metric  # noqa: F401
from . import setr_vit  # noqa: F401
from . import setr_naive_head  # noqa: F401
from . import setr_pup_head  # noqa: F401
from . import setr_mla_neck  # noqa: F401
from . import setr_mla_head  # noqa: F401
from . import segnet_backbone  # noqa: F401
from . import segnet_head  # noqa: F401
from . import camvid_dataset  # noqa: F401
from . import segnet_metric  # noqa: F401
from . import vgg16_backbone  # noqa: F401
from . import fcn_skip_head  # noqa: F401
from . import class_weighted_ce_loss  # noqa: F401
from . import checked_load_image  # noqa: F401
from . import checked_load_annotations  # noqa: F401

from ..openmmlab.config_prefix import enable_config_prefix
# isort: on

enable_config_prefix()
