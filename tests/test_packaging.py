"""The package's import boundaries (each framework adapter imports only its framework), and the
commands its messages name exist in the package (a wheel has no tools/ folder)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def imported_after(statement: str) -> set[str]:
    code = (
        f"import sys; {statement}; "
        "print(' '.join(sorted(m.split('.')[0] for m, v in sys.modules.items() if v is not None)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(proc.stdout.split())


def test_models_are_framework_free():
    mods = imported_after(
        "import segclassics.models, pkgutil, importlib; "
        "[importlib.import_module('segclassics.models.' + m.name) "
        "for m in pkgutil.iter_modules(segclassics.models.__path__)]"
    )
    assert not mods & {"mmengine", "mmcv", "mmseg", "mmdet", "detectron2"}


FRAMEWORKS = {"mmengine", "mmcv", "mmseg", "mmdet", "detectron2"}


@pytest.mark.slow
@pytest.mark.parametrize("package", ["datasets", "evaluation"])
def test_datasets_and_evaluation_are_framework_free(package, repo_root):
    """The data helpers and metrics that the mmseg / mmdet / detectron2 adapters share import no
    framework: neither at import time of any of their modules nor in a function body."""
    import ast

    statement = (
        f"import segclassics.{package}, pkgutil, importlib; "
        f"[importlib.import_module('segclassics.{package}.' + m.name) "
        f"for m in pkgutil.iter_modules(segclassics.{package}.__path__)]"
    )
    assert not imported_after(statement) & FRAMEWORKS
    for path in (repo_root / "plugins" / "segclassics" / package).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            assert not {n.split(".")[0] for n in names} & FRAMEWORKS, f"{path.name}:{node.lineno} imports {names}"


def imported_with_blocked(statement: str, blocked: tuple[str, ...]) -> set[str]:
    """Run ``statement`` in a fresh interpreter where ``blocked`` packages cannot be imported
    (as if not installed); return the top-level modules imported."""
    block = "; ".join(f"sys.modules[{name!r}] = None" for name in blocked)
    return imported_after(f"{block}; {statement}")


def test_mmseg_adapter_works_without_detectron2():
    """Our mmseg adapter never needs detectron2. (mmseg itself imports mmdet, whose
    ``d2_wrapper`` tries ``import detectron2`` when installed; that is not ours.)"""
    mods = imported_with_blocked("import segclassics.mmseg", ("detectron2",))
    assert "mmseg" in mods


def test_detectron2_adapter_works_without_openmmlab():
    mods = imported_with_blocked("import segclassics.detectron2", ("mmcv", "mmengine", "mmseg", "mmdet"))
    assert "detectron2" in mods and not mods & {"mmcv", "mmengine", "mmseg", "mmdet"}


def test_mmdet_adapter_works_without_detectron2():
    mods = imported_with_blocked("import segclassics.mmdet", ("detectron2",))
    assert "mmdet" in mods


def test_every_adapter_file_is_imported_by_its_package(repo_root):
    """A registered file that its package's __init__ forgets would silently not register."""
    for framework in ("mmseg", "mmdet", "detectron2"):
        pkg = repo_root / "plugins" / "segclassics" / framework
        init = (pkg / "__init__.py").read_text()
        for f in pkg.glob("*.py"):
            text = f.read_text()
            if f.name != "__init__.py" and (".register_module(" in text or ".register()" in text):
                assert f"import {f.stem}" in init, (
                    f"{f} registers classes but {framework}/__init__.py does not import it"
                )


EXPECTED = {
    # registry (import, expression) -> names segclassics documents in docs/getting_started.md
    ("from mmseg.registry import MODELS as R", "R.module_dict"): {
        "VGG16",
        "FCNSkipHead",
        "PaperUNetEncoder",
        "PaperUNetHead",
        "OverlapTileEncoderDecoder",
        "SegNetBackbone",
        "SegNetHead",
        "SETRViT",
        "SETRNaiveHead",
        "SETRPUPHead",
        "SETRMLANeck",
        "SETRMLADecodeHead",
        "ClassWeightedCrossEntropyLoss",
        "SegRot90TTAModel",
    },
    ("from mmseg.registry import DATASETS as R", "R.module_dict"): {
        "SyntheticShapesDataset",
        "CamVidDataset",
        "ISBI2012Dataset",
        "DRIVEFOVDataset",
    },
    ("from mmseg.registry import TRANSFORMS as R", "R.module_dict"): {
        "UNetWeightMap",
        "ElasticDeformation",
        "MirrorPadBorder",
        "Rot90",
        "PackSegInputsWithWeight",
    },
    ("from mmseg.registry import METRICS as R", "R.module_dict"): {"SegNetMetric", "BinarySegMetric"},
    ("import segclassics.mmdet; from mmdet.registry import MODELS as R", "R.module_dict"): {"VGG16", "SETRViT"},
    ("import segclassics.mmdet; from mmdet.registry import DATASETS as R", "R.module_dict"): {"CheckedCocoDataset"},
    ("import segclassics.detectron2; from detectron2.modeling import BACKBONE_REGISTRY as R", "R._obj_map"): {
        "VGG16Backbone",
        "SETRViTBackbone",
        "SegNetEncoderBackbone",
        "build_paper_unet_backbone",
        "build_vgg16_fpn_backbone",
        "build_setr_vit_sfp_backbone",
    },
    ("import segclassics.detectron2; from detectron2.modeling import SEM_SEG_HEADS_REGISTRY as R", "R._obj_map"): {
        "FCNSemSegHead",
        "PaperUNetSemSegHead",
        "SegNetSemSegHead",
        "SETRSemSegHead",
        "build_paper_unet_sem_seg_head",
    },
}


@pytest.mark.parametrize("registry", list(EXPECTED), ids=[k[0].split(" import ")[-1] for k in EXPECTED])
def test_registries_hold_our_parts_after_import(registry):
    """After importing our adapter, the framework's registry resolves our names to our classes."""
    statement, mapping = registry
    if "segclassics" not in statement:
        statement = "import segclassics.mmseg; " + statement
    code = (
        f"{statement}; print(' '.join(k for k, v in {mapping}.items() "
        f"if getattr(v, '__module__', '').startswith('segclassics')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert EXPECTED[registry] <= set(proc.stdout.split())


def test_console_scripts_name_functions_of_the_package(repo_root):
    """Each entry point in pyproject.toml is a function of segclassics (never of tools/, which a
    wheel does not carry), and the train/test/infer commands are among them."""
    import importlib

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    scripts = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"segclassics-train", "segclassics-test", "segclassics-infer"} <= set(scripts)
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        assert module.startswith("segclassics."), f"{name} -> {target}"
        assert callable(getattr(importlib.import_module(module), function)), f"{name} -> {target}"


def message_strings(path):
    """(line, text) of the string literals of a module that are not docstrings and contain a space
    (the sentences of messages; a lone ``"tools/train.py"`` argument is a path, not a message).
    Implicitly joined literals, f-strings' literal parts included, are one string."""
    import ast

    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and " " in node.value.strip()
        ):
            yield node.lineno, node.value


def test_messages_name_commands_a_wheel_has(repo_root):
    """A message inside the package never sends the user to a file of the checkout's tools/ (a wheel
    has none): our tools are named as ``python -m segclassics...`` or as console scripts. A
    framework's own tools/ (``mmseg's tools/...``) are the framework's, not ours, and may be named."""
    import re

    ours = re.compile(r"(?<!mmseg's )(?<!mmdet's )(?<!detectron2's )\b(python3? )?tools/[\w./-]+")
    found = []
    for path in sorted((repo_root / "plugins" / "segclassics").rglob("*.py")):
        for line, text in message_strings(path):
            for m in ours.finditer(text):
                # the shell launchers too (tools/dist_train.sh): a wheel ships neither them nor tools/
                target = repo_root / "tools" / m.group(0).split("tools/", 1)[1].rstrip(".")
                if m.group(1) or target.exists():
                    found.append(f"{path.relative_to(repo_root)}:{line}: {m.group(0)}")
    assert found == []


def named_modules(repo_root) -> dict[str, str]:
    """``python -m segclassics.X`` commands named by messages and docstrings of the package -> one place."""
    import re

    named = {}
    for path in sorted((repo_root / "plugins" / "segclassics").rglob("*.py")):
        # (?![\w.]*<): not a pattern such as segclassics.tools.<folder>.<name>
        for m in re.finditer(r"python3? -m (segclassics(?:\.\w+)+)(?!\w)(?![\w.]*<)", path.read_text()):
            named.setdefault(m.group(1), path.relative_to(repo_root).as_posix())
    return named


def test_python_m_commands_named_in_the_package_exist(repo_root):
    import importlib.util

    named = named_modules(repo_root)
    assert {
        "segclassics.tools.dataset_converters.camvid",
        "segclassics.tools.dataset_converters.make_synthetic",
        "segclassics.tools.convert_weights.vgg16_torchvision",
        "segclassics.tools.convert_weights.vit_timm",
        "segclassics.tools.dataset_converters.palette_to_index",
    } <= set(named)
    missing = [
        f"{module} (named in {where})" for module, where in named.items() if importlib.util.find_spec(module) is None
    ]
    assert missing == []


@pytest.mark.slow
def test_python_m_commands_answer_help(repo_root, tmp_path):
    """Each named ``python -m`` command runs from outside the checkout: ``--help`` exits 0 and prints
    its usage."""
    import os

    for module in sorted(named_modules(repo_root)):
        proc = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(repo_root / "plugins")},
        )
        assert proc.returncode == 0 and proc.stdout.startswith("usage: "), f"{module}: {proc.stderr[-2000:]}"


def test_tools_wrappers_call_the_package_main(repo_root):
    """tools/<folder>/<name>.py of a converter is the package command's ``main``, nothing more."""
    import importlib
    import runpy

    for module in sorted(named_modules(repo_root)):
        if module.startswith("segclassics.tools."):
            wrapper = repo_root / "tools" / (module[len("segclassics.tools.") :].replace(".", "/") + ".py")
            assert runpy.run_path(str(wrapper))["main"] is importlib.import_module(module).main, wrapper


@pytest.mark.parametrize("command", ["train", "test"])
def test_mim_finds_our_train_and_test_scripts(command, repo_root, tmp_path):
    """OpenMMLab's ``mim train|test segclassics ...`` runs ``<package>/.mim/tools/{train,test}.py``
    with ``--launcher none`` (and adds ``--gpus``/``--device`` only if ``-h`` offers them): ours are
    segclassics-train / segclassics-test."""
    import os
    import runpy

    import segclassics
    from segclassics.engine import cli

    script = Path(segclassics.__file__).parent / ".mim" / "tools" / f"{command}.py"
    assert runpy.run_path(str(script))[f"{command}_main"] is getattr(cli, f"{command}_main")
    proc = subprocess.run(
        [sys.executable, str(script), "-h"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(repo_root / "plugins")},
    )
    assert proc.returncode == 0 and "--launcher" in proc.stdout and "--gpus" not in proc.stdout, proc.stderr[-2000:]
