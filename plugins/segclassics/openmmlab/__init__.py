"""mmengine-level glue shared by the mmseg and mmdet adapters (OpenMMLab 2.x).

The classes here add mmengine's module API (``init_cfg``, ``init_weights``) and checked
``pretrained`` loading to the plain torch modules of :mod:`segclassics.models`. They import
mmengine only; ``segclassics.mmseg`` and ``segclassics.mmdet`` register them in their
framework's ``MODELS`` (one registration per file there), so the logic exists once.

Importing this package allow-lists the classes mmengine's training checkpoints hold, so they load
under torch's ``weights_only=True`` (see ``checkpoint_loading``).
"""

# Import order kept (ruff's isort is off here): each import registers or patches at import time.
# isort: off
from . import checkpoint_loading  # noqa: F401  (every checkpoint mmengine loads goes through our reader)
from . import checkpoint_saving  # noqa: F401  (checkpoints written by our writer: atomic, never over others' files)
from . import safe_yaml  # noqa: F401  (yaml read with safe loading only)
from . import non_finite_loss_hook  # noqa: F401  (registers NonFiniteLossHook in mmengine's HOOKS)
from . import random_state_hook  # noqa: F401  (registers RandomStateHook in mmengine's HOOKS)
from . import rank0_buffers_hook  # noqa: F401  (registers Rank0BuffersHook in mmengine's HOOKS)
from . import checked_vis_backend  # noqa: F401  (registers CheckedLocalVisBackend: --show-dir overlays through the writer)

from segclassics.utils.hub_reading import read_hub_downloads_checked
# isort: on

read_hub_downloads_checked()  # torch hub's and torchvision's URL checkpoints go through the reader too
