"""The frameworks' own tools on what our trainer writes, run as a user of the installed packages
would: from a directory outside the checkout, with only the segclassics package importable
(``PYTHONPATH`` = the plugins folder, as an installed wheel puts it on ``sys.path``).

What our ``tools/train.py`` saves (the work dir's config and the checkpoints' ``meta.cfg``) is
the user's config plus ``custom_imports``; it loads in mmseg's ``tools/test.py`` (from mmseg's
installed ``.mim/tools``), ``MMSegInferencer`` and ``DetInferencer``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import REPO

PLUGINS = REPO / "plugins"
pytestmark = pytest.mark.slow


def _installed_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return dict(
        env, PYTHONPATH=str(PLUGINS), PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2")
    )


def _run_outside(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        env=_installed_env(),
        text=True,
        capture_output=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _mim_tool(package: str, tool: str) -> Path:
    module = __import__(package)
    path = Path(module.__file__).parent / ".mim" / "tools" / tool
    if not path.is_file():
        pytest.skip(f"{package} is installed without .mim/tools/{tool}")
    return path


def _train(run_tool, config: Path, work: Path) -> None:
    proc = run_tool("train.py", config, "--work-dir", work, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _saved_config_text(work: Path, name: str) -> str:
    text = (work / name).read_text()
    for runtime_only in (
        "CheckedLoadImageFromFile",
        "CheckedLoadAnnotations",
        "NonFiniteLossHook",
        "RandomStateHook",
        "Rank0BuffersHook",
    ):
        assert runtime_only not in text, runtime_only
    return text


def _checkpoint_cfg(path: Path) -> str:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)["meta"]["cfg"]


# ----------------------------------------------------------------------------- mmseg


@pytest.fixture(scope="module")
def mmseg_run(tmp_path_factory, run_tool, synthetic_root):
    """2 iterations of the synthetic UNet config (a user's config deriving from ours)."""
    tmp = tmp_path_factory.mktemp("mmseg_run")
    config = tmp / "my_unet.py"
    config.write_text(
        textwrap.dedent(f"""\
        _base_ = [{str(REPO / "configs/unet/unet_synthetic.py")!r}]
        data_root = {str(synthetic_root)!r}
        train_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
        val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
        test_dataloader = val_dataloader
        train_cfg = dict(max_iters=2, val_interval=2)
        default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
        """)
    )
    work = tmp / "work"
    _train(run_tool, config, work)
    return work


def test_mmseg_saved_config_is_the_users_plus_custom_imports(mmseg_run):
    text = _saved_config_text(mmseg_run, "my_unet.py")
    from mmengine.config import Config

    saved = Config.fromfile(str(mmseg_run / "my_unet.py"), import_custom_modules=False)
    assert saved.custom_imports == dict(imports=["segclassics.mmseg"], allow_failed_imports=False)
    assert "type='LoadImageFromFile'" in text and "type='LoadAnnotations'" in text
    assert _checkpoint_cfg(mmseg_run / "last_weights.pth") == text  # the checkpoint holds the same config


def test_mmseg_own_test_py_on_saved_config(mmseg_run, tmp_path):
    proc = _run_outside(
        [
            _mim_tool("mmseg", "test.py"),
            mmseg_run / "my_unet.py",
            mmseg_run / "last_weights.pth",
            "--work-dir",
            tmp_path / "test",
        ],
        cwd=tmp_path,
    )
    assert "mIoU" in proc.stdout + proc.stderr


def test_mmseg_inferencer_on_saved_config(mmseg_run, tmp_path, synthetic_root):
    image = sorted((synthetic_root / "img_dir" / "val").glob("*.png"))[0]
    script = textwrap.dedent(f"""\
        import json, sys
        from mmseg.apis import MMSegInferencer
        inferencer = MMSegInferencer(model={str(mmseg_run / "my_unet.py")!r},
                                     weights={str(mmseg_run / "last_weights.pth")!r}, device='cpu')
        pred = inferencer({str(image)!r}, return_datasamples=True).pred_sem_seg.data
        json.dump(dict(shape=list(pred.shape), max=int(pred.max()), min=int(pred.min()),
                       module=sys.modules['segclassics'].__file__), sys.stdout)
        """)
    out = json.loads(_run_outside(["-c", script], cwd=tmp_path).stdout.strip().splitlines()[-1])
    from PIL import Image

    width, height = Image.open(image).size
    assert out["shape"] == [1, height, width]
    assert 0 <= out["min"] <= out["max"] < 6  # the config's 6 classes
    assert out["module"].startswith(str(PLUGINS))


# ----------------------------------------------------------------------------- mmdet


@pytest.fixture(scope="module")
def mmdet_run(tmp_path_factory, run_tool, synthetic_root):
    """2 iterations of the R18-FPN Mask R-CNN config on the synthetic instances."""
    tmp = tmp_path_factory.mktemp("mmdet_run")
    config = tmp / "my_mask_rcnn.py"
    root = str(synthetic_root) + "/"
    config.write_text(
        textwrap.dedent(f"""\
        _base_ = [{str(REPO / "configs/mask_rcnn/mask-rcnn_r18_fpn_gn-scratch_isbi2012.py")!r}]
        data_root = {root!r}
        metainfo = dict(classes=('disk', 'square', 'triangle', 'ring', 'cross'))
        model = dict(roi_head=dict(bbox_head=dict(num_classes=5), mask_head=dict(num_classes=5)),
                     train_cfg=dict(rcnn=dict(sampler=dict(num=32))))
        train_dataloader = dict(batch_size=2, dataset=dict(
            data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_train.json',
            pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                      dict(type='Resize', scale=(64, 64), keep_ratio=True), dict(type='PackDetInputs')]))
        test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
                         dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                         dict(type='PackDetInputs',
                              meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))]
        val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo,
                                           ann_file='annotations/instances_val.json', pipeline=test_pipeline))
        test_dataloader = val_dataloader
        val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json', image_root=data_root)
        test_evaluator = val_evaluator
        train_cfg = dict(max_iters=2, val_interval=100)
        default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
        """)
    )
    work = tmp / "work"
    _train(run_tool, config, work)
    return work


def test_mmdet_saved_config_is_the_users_plus_custom_imports(mmdet_run):
    text = _saved_config_text(mmdet_run, "my_mask_rcnn.py")
    from mmengine.config import Config

    saved = Config.fromfile(str(mmdet_run / "my_mask_rcnn.py"), import_custom_modules=False)
    assert saved.custom_imports == dict(imports=["segclassics.mmdet"], allow_failed_imports=False)
    assert _checkpoint_cfg(mmdet_run / "last_weights.pth") == text


def test_det_inferencer_on_saved_config(mmdet_run, tmp_path, synthetic_root):
    image = sorted((synthetic_root / "img_dir" / "val").glob("*.png"))[0]
    script = textwrap.dedent(f"""\
        import json, sys
        from mmdet.apis import DetInferencer
        inferencer = DetInferencer(model={str(mmdet_run / "my_mask_rcnn.py")!r},
                                   weights={str(mmdet_run / "last_weights.pth")!r}, device='cpu')
        pred = inferencer({str(image)!r}, return_datasamples=True)['predictions'][0].pred_instances
        json.dump(dict(n=len(pred), labels=[int(x) for x in pred.labels], masks=list(pred.masks.shape)),
                  sys.stdout)
        """)
    out = json.loads(_run_outside(["-c", script], cwd=tmp_path).stdout.strip().splitlines()[-1])
    from PIL import Image

    width, height = Image.open(image).size
    assert out["masks"] == [out["n"], height, width]
    assert all(0 <= label < 5 for label in out["labels"])  # the config's 5 classes


def _pickle_ops(path: Path) -> list:
    """The (opcode, argument) stream of a pickle file, read with ``pickletools`` (nothing is
    unpickled). A pickled tensor embeds ``torch.save`` bytes whose storage keys are memory
    addresses of the writing process; each is replaced by its order of first appearance."""
    import pickletools
    import re

    keys: dict = {}

    def key(m):
        return str(keys.setdefault(m.group(0), len(keys)))

    address = re.compile(r"(?<=X.{4})\d{6,}(?=q)", re.DOTALL)  # BINUNICODE of a storage key
    ops = []
    for op, arg, _ in pickletools.genops(path.read_bytes()):
        if isinstance(arg, (bytes, bytearray)):
            arg = address.sub(key, bytes(arg).decode("latin-1"))
        elif isinstance(arg, str):
            arg = address.sub(key, arg)
        ops.append((op.name, arg))
    return ops


def test_mmdet_out_writes_what_mmdets_own_test_py_writes(mmdet_run, run_tool, tmp_path):
    """``--out FILE.pkl`` on an mmdet config: the predictions pickled as mmdet's ``tools/test.py --out``
    pickles them (``DumpDetResults``: ground truth dropped, masks RLE-encoded): the same pickle, up
    to the memory addresses torch writes as tensor storage keys; the files are compared opcode by
    opcode, never unpickled."""
    config, weights = mmdet_run / "my_mask_rcnn.py", mmdet_run / "last_weights.pth"
    ours, theirs = tmp_path / "ours.pkl", tmp_path / "theirs.pkl"
    # a data sample's metainfo keys are a set: one hash seed for both runs gives one key order
    seed = {"PYTHONHASHSEED": "0"}
    proc = run_tool("test.py", config, weights, "--work-dir", tmp_path / "ours", "--out", ours, timeout=900, env=seed)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = subprocess.run(
        [
            sys.executable,
            str(_mim_tool("mmdet", "test.py")),
            str(config),
            str(weights),
            "--work-dir",
            str(tmp_path / "theirs"),
            "--out",
            str(theirs),
        ],
        cwd=tmp_path,
        env=dict(_installed_env(), **seed),
        text=True,
        capture_output=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _pickle_ops(ours) == _pickle_ops(theirs)
    # a second run does not replace a file that this run did not write
    proc = run_tool("test.py", config, weights, "--work-dir", tmp_path / "again", "--out", theirs, timeout=900)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: {theirs} exists and was not written by this run; it is kept. Pass --overwrite to replace it, or "
        f"choose another place than --out"
    )


def test_mmdet_out_names_a_pickle_file(mmdet_run, run_tool, tmp_path):
    config = mmdet_run / "my_mask_rcnn.py"
    proc = run_tool("test.py", config, mmdet_run / "last_weights.pth", "--out", tmp_path / "preds", timeout=900)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: --out {tmp_path / 'preds'}: for an mmdet config ({config}) --out names the pickle file of the "
        f"predictions, ending in .pkl or .pickle (as mmdet's tools/test.py)"
    )
    assert not (tmp_path / "preds").exists()
