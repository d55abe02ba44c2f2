"""A short AdamW + poly schedule for CPU smoke runs and demos (detectron2 lazy config)."""

import torch
from detectron2.config import LazyCall as L
from detectron2.solver import WarmupParamScheduler
from detectron2.solver.build import get_default_optimizer_params
from fvcore.common.param_scheduler import PolynomialDecayParamScheduler

optimizer = L(torch.optim.AdamW)(
    params=L(get_default_optimizer_params)(weight_decay_norm=0.0),
    lr=1e-3,
    weight_decay=1e-4,
)
lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(PolynomialDecayParamScheduler)(base_value=1.0, power=0.9),
    warmup_length=0.02,
    warmup_factor=0.1,
)
train = dict(
    output_dir="./output",  # tools/train.py replaces it by --work-dir or work_dirs/<config name>
    init_checkpoint="",
    max_iter=300,
    amp=dict(enabled=False),
    ddp=dict(broadcast_buffers=False, find_unused_parameters=False, fp16_compression=False),
    checkpointer=dict(period=300, max_to_keep=2),
    eval_period=300,
    log_period=20,
    device="cpu",
    seed=0,
)
