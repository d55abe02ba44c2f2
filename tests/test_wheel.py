"""The built wheel joins an environment that already has the stack, and works from anywhere.

Builds sdist + wheel with ``python -m build`` (the wheel is built from the sdist, as a release
is), installs the wheel with ``pip install --no-deps`` into a fresh venv that sees the project's
installed stack, and from a temporary directory outside the checkout trains a packaged config
for 2 iterations with the ``segclassics-train`` entry point, evaluates the checkpoint with
``segclassics-test`` through a user's own config that inherits ours via ``_base_``, and runs
inference with mmseg's own API after the documented ``import segclassics.mmseg``.

"Sees the installed stack": our ``.venv`` is itself a venv, and ``venv --system-site-packages``
made from it would see the *base* interpreter's site-packages (pyenv's), not ``.venv``'s. So the
fresh venv gets a ``.pth`` file that appends ``.venv``'s site-packages to ``sys.path``: after the
fresh venv's own site-packages, like system site-packages would be. A ``.pth`` path line does not
process the ``.pth`` files inside that folder, so ``.venv``'s editable install of segclassics
(which points at the checkout) stays invisible and only the wheel's copy can be imported.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from PIL import Image

from helpers import REPO

pytestmark = pytest.mark.slow


def run(cmd, cwd, env, timeout=600):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, text=True, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, REPO], cwd=REPO, env=os.environ)
    (found,) = out.glob("segclassics-*.whl")
    return found


def test_wheel_carries_the_configs_license_and_entry_points(wheel):
    import segclassics

    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        dist_info = f"segclassics-{segclassics.__version__}.dist-info"
        entry_points = z.read(f"{dist_info}/entry_points.txt").decode()
        metadata = z.read(f"{dist_info}/METADATA").decode()
        license_text = z.read(f"{dist_info}/licenses/LICENSE").decode()
    packaged = {n[len("segclassics/.mim/configs/") :] for n in names if n.startswith("segclassics/.mim/configs/")}
    ours = {
        p.relative_to(REPO / "configs").as_posix()
        for p in (REPO / "configs").rglob("*")
        if p.suffix in (".py", ".yaml", ".yml") and "__pycache__" not in p.parts
    }
    assert packaged == ours
    assert wheel.name == f"segclassics-{segclassics.__version__}-py3-none-any.whl"
    assert "segclassics-train = segclassics.engine.cli:train_main" in entry_points
    assert "segclassics-test = segclassics.engine.cli:test_main" in entry_points
    assert license_text == (REPO / "LICENSE").read_text() and "Apache License" in license_text
    assert "segclassics/.mim/model-index.yml" in names
    assert {"segclassics/.mim/tools/train.py", "segclassics/.mim/tools/test.py"} <= names  # mim train / mim test
    requires = [
        Requirement(line.split(": ", 1)[1]) for line in metadata.splitlines() if line.startswith("Requires-Dist: ")
    ]
    # Ranges, never pins; no framework among the core dependencies; no detectron2 anywhere.
    assert [str(r) for r in requires if any(s.operator in ("==", "===") for s in r.specifier)] == []
    core = {r.name for r in requires if r.marker is None}
    assert core == {"torch", "torchvision", "numpy", "Pillow", "scipy", "psutil"}
    assert not {r.name for r in requires} & {"detectron2", "sal-detectron2"}


@pytest.fixture(scope="module")
def env_with_wheel(wheel, tmp_path_factory):
    """(venv bin dir, environment for subprocesses) after ``pip install --no-deps`` of the wheel."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv, env=os.environ)
    site = Path(
        run(
            [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            cwd=venv,
            env=os.environ,
        ).stdout.strip()
    )
    stack = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site / "segclassics-test-stack.pth").write_text("".join(f"{p}\n" for p in stack))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"),
    )
    run([venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", wheel], cwd=venv, env=env)
    return venv / "bin", env, site


def test_wheel_trains_tests_and_infers_outside_the_checkout(env_with_wheel, synthetic_root, tmp_path):
    bin_dir, env, site = env_with_wheel
    assert not str(tmp_path).startswith(str(REPO))
    where = run([bin_dir / "python", "-c", "import segclassics; print(segclassics.__file__)"], tmp_path, env)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout  # the wheel's copy, not the checkout

    data = synthetic_root
    loaders = [f"{split}_dataloader" for split in ("train", "val", "test")]
    opts = [
        "train_cfg.max_iters=2",
        "train_cfg.val_interval=2",
        "default_hooks.checkpoint.interval=2",
        "default_hooks.logger.interval=1",
        *[f"{loader}.dataset.data_root={data}" for loader in loaders],
        *[f"{loader}.{key}" for loader in loaders for key in ("num_workers=0", "persistent_workers=False")],
    ]
    train = run(
        [
            bin_dir / "segclassics-train",
            "segclassics::unet/unet_synthetic.py",
            "--work-dir",
            "train",
            "--cfg-options",
            *opts,
        ],
        tmp_path,
        env,
    )
    assert "Iter(train) [2/2]" in train.stdout + train.stderr
    val_miou = re.findall(r"mIoU: ([0-9.]+)", train.stdout + train.stderr)[-1]  # validation after iteration 2
    checkpoint = (tmp_path / "train" / "last_checkpoint").read_text().strip()
    assert Path(checkpoint).is_file()

    # A user's own config, outside the checkout, inheriting ours.
    (tmp_path / "my_unet.py").write_text(
        "_base_ = ['segclassics::unet/unet_synthetic.py']\n"
        f"test_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root={str(data)!r}))\n"
    )
    test = run([bin_dir / "segclassics-test", "my_unet.py", checkpoint, "--work-dir", "test"], tmp_path, env)
    metrics = json.loads(next(line for line in test.stdout.splitlines() if line.startswith("metrics: "))[9:])
    assert metrics["mIoU"] == float(val_miou)  # the same weights on the same val images (test split = val)

    infer = run(
        [
            bin_dir / "segclassics-infer",
            "segclassics::unet/unet_synthetic.py",
            checkpoint,
            data / "img_dir" / "val",
            "--out",
            "infer",
            "--device",
            "cpu",
        ],
        tmp_path,
        env,
    )
    assert "summary: 4 done, 0 skipped" in infer.stdout + infer.stderr
    labels = sorted((tmp_path / "infer" / "labels").glob("*.png"))
    assert [np.asarray(Image.open(p)).shape for p in labels] == [(64, 64)] * 4
    assert all(np.asarray(Image.open(p)).max() < 6 for p in labels)

    # Inference with mmseg's own API: `import segclassics.mmseg` is the one line a plain mmseg
    # script needs for our models and for `segclassics::` in `_base_`.
    image = next((data / "img_dir" / "val").iterdir())
    api = run([bin_dir / "python", "-c", INFER, "my_unet.py", checkpoint, image, "api_pred.npy"], tmp_path, env)
    assert api.stdout.splitlines()[-1] == "prediction 64x64, classes in [0, 6): True", api.stdout
    # the console command and mmseg's API predict the same labels for that image
    infer_labels = np.asarray(Image.open(tmp_path / "infer" / "labels" / f"{image.stem}.png"))
    assert np.array_equal(np.load(tmp_path / "api_pred.npy"), infer_labels)


INFER = """
import sys
import segclassics.mmseg
from mmseg.apis import inference_model, init_model
import numpy as np
config, checkpoint, image, out = sys.argv[1:]
model = init_model(config, checkpoint, device='cpu')
pred = inference_model(model, image).pred_sem_seg.data[0]
np.save(out, pred.numpy())
print(f"prediction {pred.shape[0]}x{pred.shape[1]}, classes in [0, 6): {bool(((pred >= 0) & (pred < 6)).all())}")
"""
