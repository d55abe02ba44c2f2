"""detectron2 dataloaders for the synthetic shapes (semantic segmentation).

Location: ``$SEGCLASSICS_SYNTHETIC_ROOT`` or ``data/synthetic`` (generated there on first use);
override it with ``dataloader.train.dataset.root=...`` (the test split follows). A missing
dataset elsewhere is an error unless ``dataloader.train.dataset.generate=True``.
"""

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.data import DatasetMapper, build_detection_test_loader, build_detection_train_loader
from detectron2.evaluation import SemSegEvaluator
from omegaconf import OmegaConf

from segclassics.datasets.synthetic import default_root
from segclassics.detectron2.datasets import registered_dataset_dicts
from segclassics.detectron2.synthetic import register_synthetic

dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(registered_dataset_dicts)(
        name="synthetic_shapes_sem_seg_train", register=register_synthetic, root=default_root(), generate=None
    ),
    mapper=L(DatasetMapper)(
        is_train=True,
        augmentations=[L(T.RandomFlip)(horizontal=True)],
        image_format="RGB",
    ),
    total_batch_size=4,
    num_workers=2,
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(registered_dataset_dicts)(
        name="synthetic_shapes_sem_seg_val",
        register=register_synthetic,
        root="${...train.dataset.root}",
        generate="${...train.dataset.generate}",
    ),
    mapper=L(DatasetMapper)(is_train=False, augmentations=[], image_format="RGB"),
    num_workers=2,
)
dataloader.evaluator = L(SemSegEvaluator)(dataset_name="${..test.dataset.name}", distributed=True)
