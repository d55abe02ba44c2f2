"""dev/upstream/assemble.py: each family becomes an OpenMMLab project that works without segclassics,
and a detectron2 project that works without segclassics and without any OpenMMLab package.

For each family the project is assembled into ``<tmp>/projects/<name>`` (where it would sit in an
mmsegmentation or mmdetection checkout) and, in a fresh interpreter in which ``import segclassics``
fails (``sys.modules['segclassics'] = None``) and ``<tmp>`` is the checkout root on ``sys.path``,
the project's own test builds the model of every config (which imports the project through the
configs' ``custom_imports``).
"""

from __future__ import annotations

import ast
import glob
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAMILIES = ["fcn", "unet", "segnet", "setr", "mask_rcnn"]


def _load_assemble():
    """dev/upstream/assemble.py as a module (it puts dev/upstream/ on sys.path for its helpers)."""
    spec = importlib.util.spec_from_file_location("upstream_assemble", REPO / "dev" / "upstream" / "assemble.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


assemble = _load_assemble()
vendor = assemble.vendor

BLOCKED_RUN = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # any import of it now raises ImportError
sys.path.insert(0, {root!r})
import pytest
code = pytest.main(['-q', '-p', 'no:cacheprovider', {tests!r}])
sys.exit(code)
"""


def test_rewrite_imports_on_hand_made_package(tmp_path):
    src = tmp_path / "src"
    (src / "segclassics" / "models").mkdir(parents=True)
    (src / "segclassics" / "mmseg").mkdir()
    for pkg in ("segclassics", "segclassics/models", "segclassics/mmseg"):
        (src / pkg / "__init__.py").write_text('"""doc"""\n')
    (src / "segclassics" / "models" / "net.py").write_text("X = 1\n")
    head = src / "segclassics" / "mmseg" / "head.py"
    head.write_text(
        "from segclassics.models.net import X  # why\n"
        "from ..models import net\n"
        "def f():\n    from segclassics.models.net import (\n        X as Y)\n    return Y\n"
    )
    mapping = lambda old: assemble.new_name(old, "proj")  # noqa: E731
    out = vendor.rewrite_imports(head.read_text(), str(head), str(src), "proj.mmseg.head", mapping)
    assert out == (
        "from ..models.net import X  # why\n"
        "from ..models import net\n"
        "def f():\n    from ..models.net import X as Y\n    return Y\n"
    )
    cfg = tmp_path / "cfg.py"
    cfg.write_text("from segclassics.models.net import X\nfrom .common import y\n")
    config = vendor.rewrite_imports(cfg.read_text(), str(cfg), str(src), "", mapping, config=True)
    assert config == "from proj.models.net import X\nfrom .common import y\n"
    closure = vendor.import_closure([str(head)], str(src))
    assert closure == {"segclassics.mmseg.head", "segclassics.models.net"}


def test_rewrite_config_names_the_upstream_data_folder():
    """Our real-data default (../shared/data beside the checkout, said relative to the config file)
    becomes upstream's data/<dataset>."""
    text = 'data_root = "{{ fileDirname }}/../../../../shared/data/camvid"\n'
    out = assemble.rewrite_config(text, "c.py", "mmseg", "projects.segnet.segnet")
    assert 'data_root = "data/camvid"' in out and "fileDirname" not in out


def test_registered_names_forms(tmp_path):
    f = tmp_path / "reg.py"
    f.write_text(
        "@MODELS.register_module()\nclass A: pass\n"
        "@DATASETS.register_module(name='B2')\nclass B: pass\n"
        "MODELS.register_module(name='C', module=Impl)\n"
    )
    assert vendor.registered_names(str(f)) == {"A": "MODELS", "B2": "DATASETS", "C": "MODELS"}


def test_bad_project_name_is_one_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "dev/upstream/assemble.py"), "unet", str(tmp_path / "paper-unet")],
        text=True,
        capture_output=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: project folder name 'paper-unet' is not a Python identifier (it becomes part of "
        "'projects.paper-unet.paper_unet'); use letters, digits and '_'"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_assembled_project_builds_without_segclassics(family, tmp_path):
    name = f"paper_{family}"
    out = tmp_path / "projects" / name
    info = assemble.assemble(family, str(out))
    configs = sorted(
        p.name for p in (REPO / "configs" / family).glob("*.py") if p.name not in assemble.FAMILIES[family].exclude
    )
    assert sorted(p.name for p in (out / "configs" / family).glob("*.py")) == configs
    package = out / assemble.FAMILIES[family].package
    for path in glob.glob(str(package / "**" / "*.py"), recursive=True):
        tree = ast.parse(Path(path).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith("segclassics"), f"{path}:{node.lineno}"
    for cfg in (out / "configs").rglob("*.py"):
        assert "'segclassics." not in cfg.read_text(), cfg
    readme = (out / "README.md").read_text()
    assert "## Checklist" in readme and f"projects.{name}." in readme
    _run_project_tests(tmp_path, out, ["segclassics"], len(configs))
    assert info["configs"] == len(configs)


def _run_project_tests(root: Path, project: Path, blocked: list[str], configs: int) -> None:
    env = dict(os.environ, PYTHONPATH="", OMP_NUM_THREADS="1")  # no plugins/ on the path either
    code = BLOCKED_RUN.format(blocked=blocked, root=str(root), tests=str(project / "tests"))
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, text=True, capture_output=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert f"{configs + 1} passed" in proc.stdout, proc.stdout[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_assembled_detectron2_project_builds_without_segclassics_or_openmmlab(family, tmp_path):
    out = tmp_path / "projects" / f"Paper{family.title().replace('_', '')}"
    assemble.assemble_detectron2(family, str(out))
    configs = assemble.FAMILIES[family].d2_configs
    assert sorted(p.name for p in (out / "configs").glob("*.py")) == sorted(configs)
    for path in out.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith(("segclassics", "mmseg", "mmdet", "mmcv", "mmengine")), (
                    f"{path}:{node.lineno}"
                )
    assert "lazyconfig_train_net.py" in (out / "README.md").read_text()
    _run_project_tests(tmp_path, out, ["segclassics", "mmengine", "mmcv", "mmseg", "mmdet"], len(configs))
