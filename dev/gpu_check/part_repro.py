"""GPU check, part 3: time-boxed reproductions with the framework-free models (plain torch loop).

* ``camvid``: SegNet-Basic (Badrinarayanan et al., TPAMI 2017, Sec. 3.1) from scratch (He init) on
  CamVid train (367 images, 360x480, 11 classes), the recipe of
  ``configs/segnet/segnet_basic_camvid.py`` (read from it: SGD lr 0.1, momentum 0.9, weight decay
  5e-4, batch 12, median-frequency class weights, random horizontal flip, the data preprocessor's
  mean/std); evaluated on val (101 images) with the paper's G, C, mIoU and BF
  (``segclassics.evaluation.seg_metrics.SegNetMetrics``).
* ``isbi``: the paper UNet (Ronneberger et al. 2015; 64 base channels, depth 5, valid
  convolutions, drop-out 0.5) on ISBI 2012 slices 0-23, the recipe of
  ``configs/unet/unet_valid_isbi2012.py`` (SGD lr 0.01, momentum 0.99, poly decay over the time
  box, gradient clipping 10, batch 1 tile of 572x572 -> 388x388, elastic deformation, border weight
  map w0 = 10, sigma = 5, random flips, mirrored borders) with the augmentation in CPU worker
  processes; evaluated on slices 24-29 with overlap-tile inference, pixel error and Rand error
  (``segclassics.evaluation.binary``).

Both train until the time box minus a reserve for evaluation, on the device, bf16 autocast on CUDA
(fp32 on CPU). They read the data from ``--data-root`` (the bundle's copy of ``../shared/data``).
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from common import ROOT, Recorder, autocast, part_args, sync
from PIL import Image  # noqa: E402


def _config(rel: str):
    from mmengine.config import Config

    return Config.fromfile(os.path.join(ROOT, rel))


def _read(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB") if path.endswith(".jpg") else im)


def _load_folder(folder: str, limit=None) -> np.ndarray:
    names = sorted(os.listdir(folder))[:limit]
    with ThreadPoolExecutor(8) as pool:
        return np.stack(list(pool.map(_read, [os.path.join(folder, n) for n in names])))


def _loop(rec, out, step, reserve_s, log_every_s=15.0):
    """Call ``step(i) -> loss`` until the part's deadline minus ``reserve_s`` (and minus 1.5x the
    longest step, so the last one ends in time); records the loss curve."""
    t0 = last = time.time()
    i, curve, longest = 0, [], 0.0
    while rec.remaining() > reserve_s + 1.5 * longest or i == 0:
        t_step = time.time()
        loss = step(i)
        longest = max(longest, time.time() - t_step)
        i += 1
        if time.time() - last > log_every_s:
            last = time.time()
            curve.append([i, round(last - t0, 1), float(loss)])
            print(f"[gpu-check]   iter {i}, {last - t0:.0f} s, loss {float(loss):.4f}", flush=True)
    out.update(iterations=i, train_seconds=time.time() - t0, final_loss=float(loss), loss_curve=curve)
    return i


# ----------------------------------------------------------------------------- SegNet-Basic / CamVid


def camvid(a, rec: Recorder) -> None:
    from segclassics.evaluation.seg_metrics import SegNetMetrics
    from segclassics.models.segnet import SegNetBasic, he_init

    cfg = _config("configs/segnet/segnet_basic_camvid.py")
    dev, smoke = a.device, a.smoke
    root = os.path.join(a.data_root, "camvid")
    with rec.item("load CamVid") as out:
        lim_t, lim_v = (12, 4) if smoke else (None, None)
        xs = _load_folder(os.path.join(root, "images/train"), lim_t)
        ys = _load_folder(os.path.join(root, "labels/train"), lim_t)
        xv = _load_folder(os.path.join(root, "images/val"), lim_v)
        yv = _load_folder(os.path.join(root, "labels/val"), lim_v)
        if smoke:  # quarter resolution keeps the 2-core rehearsal short
            xs, ys, xv, yv = xs[:, ::4, ::4], ys[:, ::4, ::4], xv[:, ::4, ::4], yv[:, ::4, ::4]
        out.update(train=list(xs.shape), val=list(xv.shape), root=root)
    void = 11  # CamVid "unlabelled"; ignored as 255, as CamVidDataset does
    ys = np.where(ys == void, 255, ys)
    yv = np.where(yv == void, 255, yv)
    mean = torch.tensor(cfg.model.data_preprocessor.mean, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(cfg.model.data_preprocessor.std, device=dev).view(1, 3, 1, 1)
    x_train = torch.from_numpy(np.ascontiguousarray(xs)).to(dev).permute(0, 3, 1, 2)  # uint8 RGB
    y_train = torch.from_numpy(ys.astype(np.int64)).to(dev)
    weight = torch.tensor(cfg.model.decode_head.loss_decode.class_weight, device=dev)
    opt_cfg = cfg.optim_wrapper.optimizer
    batch = min(int(cfg.train_dataloader.batch_size), len(xs))
    torch.manual_seed(0)
    model = he_init(SegNetBasic(num_classes=11)).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(
        model.parameters(), lr=opt_cfg.lr, momentum=opt_cfg.momentum, weight_decay=opt_cfg.weight_decay
    )
    amp = "bf16" if dev.startswith("cuda") else None
    order = torch.randperm(len(xs), device=dev)

    def step(i):
        nonlocal order
        per_epoch = len(xs) // batch
        if i and i % per_epoch == 0:
            order = torch.randperm(len(xs), device=dev)
        idx = order[(i % per_epoch) * batch : (i % per_epoch + 1) * batch]
        x, y = x_train[idx].float(), y_train[idx]
        flip = torch.rand(len(idx), device=dev) < 0.5  # RandomFlip(prob=0.5), horizontal
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        y = torch.where(flip.view(-1, 1, 1), y.flip(-1), y)
        x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
        with autocast(dev, amp):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, weight=weight, ignore_index=255)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    reserve = 10.0 if smoke else 25.0
    with rec.item("train SegNet-Basic") as out:
        model.train()
        sync(dev)
        it = _loop(rec, out, step, reserve)
        sync(dev)
        out.update(
            batch=batch,
            amp=amp or "fp32",
            epochs=it * batch / len(xs),
            train_images_per_s=it * batch / out["train_seconds"],
            recipe=dict(opt_cfg),
        )
    with rec.item("evaluate SegNet-Basic on CamVid val") as out:
        model.eval()
        metrics = SegNetMetrics(num_classes=11, ignore_index=255)
        t0 = time.time()
        preds = []
        with torch.no_grad(), autocast(dev, amp):
            for i in range(0, len(xv), 8):
                x = torch.from_numpy(np.ascontiguousarray(xv[i : i + 8])).to(dev).permute(0, 3, 1, 2).float()
                preds.append(
                    model(((x - mean) / std).contiguous(memory_format=torch.channels_last)).argmax(1).cpu().numpy()
                )
        sync(dev)
        out["infer_images_per_s"] = len(xv) / (time.time() - t0)
        for j, (p, g) in enumerate(zip(np.concatenate(preds), yv)):
            metrics.update(p, g, name=f"val image {j}")
        res = metrics.compute()
        out.update(
            {k: float(res[k]) for k in ("G", "C", "mIoU", "BF")},
            class_acc=res["class_acc"],
            class_iou=res["class_iou"],
            images=len(xv),
        )


# ----------------------------------------------------------------------------- UNet / ISBI 2012


class _ISBITiles(torch.utils.data.IterableDataset):
    """Endless augmented training tiles: (572x572 image tile, 388x388 label, 388x388 weight)."""

    def __init__(self, images, labels, tile, out, border, cfg, seed=0):
        self.images, self.labels = images, labels
        self.tile, self.out, self.border, self.cfg, self.seed = tile, out, border, cfg, seed

    def __iter__(self):
        from segclassics.datasets.unet_augment import elastic_deform, unet_weight_map

        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng(self.seed + (info.id if info else 0))
        c = self.cfg
        while True:
            k = rng.integers(len(self.images))
            img, lab = elastic_deform(self.images[k], self.labels[k], sigma=c["sigma"], grid=c["grid"], rng=rng)
            w = unet_weight_map(lab, w0=c["w0"], sigma=c["w_sigma"], num_classes=2, foreground=1, background=0)
            if rng.random() < 0.5:
                img, lab, w = img[:, ::-1], lab[:, ::-1], w[:, ::-1]
            if rng.random() < 0.5:
                img, lab, w = img[::-1], lab[::-1], w[::-1]
            h, wd = lab.shape
            oy, ox = rng.integers(0, h - self.out + 1), rng.integers(0, wd - self.out + 1)
            pad = np.pad(img, self.border, mode="symmetric")  # mirrored context, paper Fig. 2
            yield (
                torch.from_numpy(np.ascontiguousarray(pad[oy : oy + self.tile, ox : ox + self.tile]))[None].float(),
                torch.from_numpy(np.ascontiguousarray(lab[oy : oy + self.out, ox : ox + self.out])).long(),
                torch.from_numpy(np.ascontiguousarray(w[oy : oy + self.out, ox : ox + self.out])).float(),
            )


def isbi(a, rec: Recorder) -> None:
    from segclassics.evaluation.binary import BinarySegAccumulator
    from segclassics.models.overlap_tile import overlap_tile_predict
    from segclassics.models.unet import UNet, unet_output_size

    cfg = _config("configs/unet/unet_valid_isbi2012.py")
    dev, smoke = a.device, a.smoke
    root = os.path.join(a.data_root, "isbi2012")
    train_ids, val_ids = list(cfg.train_dataloader.dataset.slices), list(cfg.val_dataloader.dataset.slices)
    with rec.item("load ISBI 2012") as out:
        read = lambda sub, ids: np.stack([_read(os.path.join(root, sub, f"{i}.png")) for i in ids])  # noqa: E731
        xs, ys = read("images/train", train_ids), read("labels/train", train_ids)
        xv, yv = read("images/train", val_ids), read("labels/train", val_ids)
        if smoke:
            xs, ys, xv, yv = xs[:2, :200, :200], ys[:2, :200, :200], xv[:1, :200, :200], yv[:1, :200, :200]
        ys, yv = (ys == 255).astype(np.uint8), (yv == 255).astype(np.uint8)  # 255 = cell interior -> class 1
        out.update(train_slices=train_ids, val_slices=val_ids, train=list(xs.shape), val=list(xv.shape))
    base = 8 if smoke else 64  # paper width (the shipped CPU config uses 16)
    tile = 284 if smoke else cfg.tile[0]  # smoke: 284 -> 100 outputs, 4 tiles per 200x200 val crop
    out_size = unet_output_size((tile, tile), 5, "valid")[0]
    border = (tile - out_size) // 2
    aug = dict(sigma=10.0, grid=3, w0=10.0, w_sigma=5.0)
    for t in cfg.train_pipeline:  # the config's augmentation parameters
        if t["type"] == "ElasticDeformation":
            aug.update(sigma=t["sigma"], grid=t["grid"])
        if t["type"] == "UNetWeightMap":
            aug.update(w0=t["w0"], w_sigma=t["sigma"])
    workers = 0 if smoke else max(1, min(12, (os.cpu_count() or 2) - 2))
    loader = iter(
        torch.utils.data.DataLoader(
            _ISBITiles(xs, ys, tile, out_size, border, aug),
            batch_size=1,
            num_workers=workers,
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers else None,
        )
    )
    torch.manual_seed(0)
    model = UNet(in_channels=1, num_classes=2, base_channels=base, depth=5, padding="valid", dropout=0.5).to(dev)
    opt_cfg = cfg.optim_wrapper.optimizer
    opt = torch.optim.SGD(
        model.parameters(), lr=opt_cfg.lr, momentum=opt_cfg.momentum, weight_decay=opt_cfg.weight_decay
    )
    clip = cfg.optim_wrapper.clip_grad.max_norm
    amp = "bf16" if dev.startswith("cuda") else None
    reserve = 10.0 if smoke else 25.0
    budget = max(rec.remaining() - reserve, 1.0)
    t_start = time.time()
    waits = []

    def step(i):
        t0 = time.perf_counter()
        x, y, w = next(loader)
        waits.append(time.perf_counter() - t0)
        x, y, w = ((x.to(dev) - 127.5) / 127.5), y.to(dev), w.to(dev)
        for g in opt.param_groups:  # poly decay (power 0.9) over the time box instead of max_iters
            g["lr"] = opt_cfg.lr * max(1 - (time.time() - t_start) / budget, 0.0) ** 0.9 + 1e-5
        with autocast(dev, amp):
            logits = model(x)
        loss = (F.cross_entropy(logits.float(), y, reduction="none") * w).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return loss.detach()

    with rec.item("train UNet") as out:
        model.train()
        it = _loop(rec, out, step, reserve)
        sync(dev)
        out.update(
            base_channels=base,
            tile=[tile, out_size],
            amp=amp or "fp32",
            workers=workers,
            train_tiles_per_s=it / out["train_seconds"],
            mean_data_wait_s=float(np.mean(waits)),
            recipe=dict(opt_cfg, clip_grad=clip, **aug),
        )
    with rec.item("evaluate UNet on ISBI slices 24-29") as out:
        model.eval()
        acc = BinarySegAccumulator(rand=True)
        t0 = time.time()

        def forward(t):
            with autocast(dev, amp):
                return model(t).float()

        for img, lab in zip(xv, yv):
            x = ((torch.from_numpy(img.astype(np.float32)) - 127.5) / 127.5)[None, None].to(dev)
            pred = overlap_tile_predict(forward, x, (tile, tile), (out_size, out_size), batch_tiles=4)
            acc.update(pred.argmax(1)[0].cpu().numpy().astype(np.uint8), lab)
        res = acc.compute()
        out.update(
            pixel_error=res["pixel_error"],
            dice=res["dice"],
            rand_error=res["rand_error"],
            slices=len(xv),
            seconds_inference=time.time() - t0,
        )


def main() -> None:
    which = sys.argv.pop(1)
    a = part_args(__doc__.split("\n")[0])
    rec = Recorder(a.json, a.deadline)
    {"camvid": camvid, "isbi": isbi}[which](a, rec)


if __name__ == "__main__":
    main()
