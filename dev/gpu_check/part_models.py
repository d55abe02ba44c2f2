"""GPU check, part 1: every model forward + backward on the device in fp32 and bf16 autocast,
with parity to CPU fp32 on a fixed input.

For each shipped config (built the way its framework builds it, via
``segclassics.engine.benchmark.build_benchmark_model``):

* **parity** (eval mode, so drop-out is off and BN uses its running statistics: the same
  function on both devices): a fixed random input (seed 0) goes through the model on CPU in fp32
  (the reference) and on the device in fp32 (TF32 off) and in bf16 autocast, with the same weights.
  Semantic segmentation compares the logits (mmseg ``mode='tensor'``) and the gradients of a
  cross-entropy against a fixed random label; Mask R-CNN compares the backbone + FPN features
  (proposal sampling and NMS make later stages discrete) and the gradients of their mean square.
  Reported: relative L2 / max abs errors, the argmax agreement of the logits, and whether each is
  within :data:`common.PARITY_CRITERIA`.
* **framework step** on the device (train mode, fp32 and bf16): the framework's own loss on a
  synthetic batch (``segclassics.engine.benchmark_inputs``), backward, and an inference
  pass; reported: the losses (finite?) and the step time.
"""

from __future__ import annotations

import copy
import time
import traceback

import torch  # noqa: E402  (after common, which puts plugins/ on the path)
import torch.nn.functional as F  # noqa: E402
from common import PARITY_CRITERIA, ROOT, Recorder, autocast, exact_fp32, grad_parity, parity, part_args, sync

from segclassics.engine import benchmark  # noqa: E402
from segclassics.engine.benchmark_inputs import INPUT_BUILDERS, image_channels  # noqa: E402

# (name, config, cfg overrides, input (H, W)). Overrides only shrink what does not change the
# network: the input size (fixed padding of the data preprocessor off), SyncBN -> BN is done by torch
# itself in one process. SETR's position embedding is built for the 256x256 input used here.
_SETR = [
    "model.backbone.img_size=(256,256)",
    "model.backbone.pretrained=None",
    "model.data_preprocessor.size=(256,256)",
]
MODELS = [
    ("FCN-8s", "configs/fcn/fcn8s_vgg16_voc12aug.py", [], (96, 96)),
    ("UNet valid", "configs/unet/unet_valid_isbi2012.py", ["model.data_preprocessor.size=(188,188)"], (188, 188)),
    ("UNet same", "configs/unet/unet_same_drive_64x64.py", [], (64, 64)),
    ("SegNet", "configs/segnet/segnet_vgg16_camvid.py", ["model.data_preprocessor.size=(96,128)"], (96, 128)),
    ("SegNet-Basic", "configs/segnet/segnet_basic_camvid.py", ["model.data_preprocessor.size=(96,128)"], (96, 128)),
    ("SETR-Naive", "configs/setr/setr_naive_vit-l_ade20k.py", _SETR, (256, 256)),
    ("SETR-PUP", "configs/setr/setr_pup_vit-l_ade20k.py", _SETR, (256, 256)),
    ("SETR-MLA", "configs/setr/setr_mla_vit-l_ade20k.py", _SETR, (256, 256)),
    ("Mask R-CNN R50-FPN (mmdet)", "configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py", [], (256, 256)),
    ("Mask R-CNN R50-FPN (detectron2)", "configs/detectron2/mask_rcnn_R_50_FPN_coco.py", [], (256, 256)),
]
# --smoke (CPU rehearsal): SETR with 4 of ViT-L's 24 layers and a 64x64 input; the rest at these sizes.
SMOKE = {
    "SETR-Naive": (["model.backbone.depth=4", "model.backbone.out_indices=(0,1,2,3)"], (64, 64)),
    "SETR-PUP": (["model.backbone.depth=4", "model.backbone.out_indices=(0,1,2,3)"], (64, 64)),
    "SETR-MLA": (["model.backbone.depth=4", "model.backbone.out_indices=(0,1,2,3)"], (64, 64)),
    "Mask R-CNN R50-FPN (mmdet)": ([], (128, 128)),
    "Mask R-CNN R50-FPN (detectron2)": ([], (128, 128)),
}


def _smoke_options(name, opts, shape):
    extra, shape_s = SMOKE.get(name, ([], shape))
    opts = [o.replace("(256,256)", f"({shape_s[0]},{shape_s[1]})") for o in opts] + extra
    return opts, shape_s


def _tensor_outputs(built, model, x):
    """What parity compares: seg logits, or backbone(+FPN) features for Mask R-CNN."""
    if built.framework == "mmseg":
        return model(x, None, mode="tensor")
    if built.framework == "mmdet":
        return list(model.extract_feat(x))
    feats = model.backbone(x)
    return [feats[k] for k in sorted(feats)]


def _loss(built, out, label):
    if built.framework == "mmseg":
        return F.cross_entropy(out.float(), label)
    return sum((o.float() ** 2).mean() for o in out)


def _run_parity(built, ref, test, x, label, device, amp):
    exact_fp32(True)
    test.zero_grad(set_to_none=True)
    xd = x.to(device)
    with autocast(device, amp):
        out = _tensor_outputs(built, test, xd)
    loss = _loss(built, out, label.to(device))
    loss.backward()
    sync(device)
    res = dict(
        output=parity(ref["out"], out),
        grad=grad_parity(ref["model"], test),
        loss=float(loss.detach()),
        loss_ref=ref["loss"],
    )
    if built.framework == "mmseg":
        res["argmax_agreement"] = float((out.float().argmax(1).cpu() == ref["out"].argmax(1)).float().mean())
    crit = PARITY_CRITERIA[amp or "fp32"]
    res["criterion"] = crit
    res["within_criterion"] = bool(res["output"]["rel_l2"] <= crit["output"] and res["grad"]["rel_l2"] <= crit["grad"])
    return res


def _framework_step(built, model, shape, device, amp, batch=2):
    """The framework's own training loss + backward, then an inference pass, on ``device``."""
    built = copy.copy(built)
    built.model = model
    data = INPUT_BUILDERS[built.framework](built, batch, shape, device)
    model.train()
    model.zero_grad(set_to_none=True)
    sync(device)
    t0 = time.perf_counter()
    with autocast(device, amp):
        if built.framework == "detectron2":
            from detectron2.utils.events import EventStorage

            with EventStorage(0):
                losses = model(data["train"])
        else:
            losses = model(**data["train"], mode="loss")
    if built.framework == "detectron2":
        total, logged = sum(losses.values()), {k: float(v) for k, v in losses.items()}
    else:
        total, logged = model.parse_losses(losses)  # sums every 'loss*' entry, lists too (mmdet's RPN)
        logged = {k: float(v) for k, v in logged.items()}
    total.backward()
    sync(device)
    train_s = time.perf_counter() - t0
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad(), autocast(device, amp):
        if built.framework == "detectron2":
            model(data["test"])
        else:
            model(**data["test"], mode="predict")
    sync(device)
    return dict(
        losses=logged,
        total_loss=float(total),
        finite=bool(torch.isfinite(total)),
        train_step_s=train_s,
        infer_s=time.perf_counter() - t0,
        batch=batch,
    )


def _error(exc) -> dict:
    return dict(error=f"{type(exc).__name__}: {exc}"[:1000], traceback=traceback.format_exc()[-1500:])


def _no_zero_weights(model, generator) -> int:
    """Weights that are all zero (FCN's zero-initialised score layers) make the output exactly 0 and
    its parity meaningless: give them N(0, 0.01^2) values. Returns how many tensors were changed."""
    changed = 0
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1 and not p.any():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.01)
                changed += 1
    return changed


def check_model(name, config, opts, shape, device, out):
    torch.manual_seed(0)
    built = benchmark.build_benchmark_model(f"{ROOT}/{config}", opts, "cpu")
    ref_model = built.model.eval()
    out["zero_weight_tensors_randomised"] = _no_zero_weights(ref_model, torch.Generator().manual_seed(1))
    out.update(
        framework=built.framework, params=sum(p.numel() for p in ref_model.parameters()), input_shape=list(shape)
    )
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, image_channels(ref_model), *shape, generator=g)
    ref_out = _tensor_outputs(built, ref_model, x)
    label = (
        torch.randint(0, ref_out.shape[1], (1, *ref_out.shape[-2:]), generator=g)
        if built.framework == "mmseg"
        else torch.zeros(0)
    )
    ref_loss = _loss(built, ref_out, label)
    ref_loss.backward()
    ref = dict(
        model=ref_model,
        out=[o.detach() for o in ref_out] if isinstance(ref_out, list) else ref_out.detach(),
        loss=float(ref_loss.detach()),
    )
    test = copy.deepcopy(ref_model).to(device)
    for amp in (None, "bf16"):
        key = amp or "fp32"
        try:
            out[f"parity_{key}"] = _run_parity(built, ref, test.eval(), x, label, device, amp)
        except Exception as exc:  # noqa: BLE001
            out[f"parity_{key}"] = _error(exc)
    exact_fp32(False)
    for amp in (None, "bf16"):
        key = amp or "fp32"
        try:
            out[f"step_{key}"] = _framework_step(built, test, shape, device, amp)
        except Exception as exc:  # noqa: BLE001
            out[f"step_{key}"] = _error(exc)
    del test, ref_model, built


def main() -> None:
    a = part_args(__doc__.split("\n")[0])
    rec = Recorder(a.json, a.deadline)
    rec.put("parity_criteria", PARITY_CRITERIA)
    for name, config, opts, shape in MODELS:
        if a.smoke:
            opts, shape = _smoke_options(name, opts, shape)
        if not rec.enough(name, 5):
            continue
        with rec.item(name) as out:
            out["config"] = config
            out["cfg_options"] = opts
            check_model(name, config, opts, shape, a.device, out)


if __name__ == "__main__":
    main()
