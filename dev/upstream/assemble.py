#!/usr/bin/env python
"""Assemble one model family as a folder for OpenMMLab's ``projects/`` (mmsegmentation's, or
mmdetection's for Mask R-CNN), generated from this repository's sources.

    python dev/upstream/assemble.py FAMILY OUT_DIR [--package NAME] [--force]

FAMILY is one of fcn, unet, segnet, setr (mmsegmentation) or mask_rcnn (mmdetection: its
parts are mmdet backbones, a dataset and a metric). OUT_DIR is the project folder, e.g.
``~/mmsegmentation/projects/paper_unet``; its name is the project name used in imports, so it
must be a Python identifier. What is written (the layout of mmseg's ``projects/example_project``)::

    OUT_DIR/README.md                 paper, results as measured (with the machine), usage, checklist
    OUT_DIR/configs/<family>/*.py     the family's configs; custom_imports = 'projects.<name>.<package>'
    OUT_DIR/configs/_base_/...        the bases they inherit
    OUT_DIR/configs/<family>/metafile.yaml   model index entries, Config paths inside projects/
    OUT_DIR/<package>/                the registered modules the configs name, plus every
                                      segclassics module they import, with relative imports
    OUT_DIR/tests/test_configs.py     builds every config's model (meta device) with mmseg/mmdet alone

Which modules are copied is computed: the registry names that occur in the family's configs
(and, transitively, in the copied code), the files that register them, and the import closure
of those files. The copy imports nothing from ``segclassics``.
"""

from __future__ import annotations

import argparse
import ast
import glob
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Set

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SRC = os.path.join(REPO, "plugins")
sys.path.insert(0, HERE)
import detectron2_project  # noqa: E402
import project_readme  # noqa: E402
import vendor  # noqa: E402
import wrap  # noqa: E402

#: The line lengths upstream's flake8 checks (mmseg / mmdet: flake8's default; detectron2's .flake8).
OPENMMLAB_LINE_LENGTH, DETECTRON2_LINE_LENGTH = 79, 100
#: Columns left free when wrapping for OpenMMLab: yapf may indent a continuation line further
#: (aligned with its opening bracket) after the wrapping.
YAPF_MARGIN = 4


@dataclass(frozen=True)
class Family:
    framework: str  # 'mmseg' or 'mmdet': the adapter package and the OpenMMLab library
    package: str  # default name of the copied Python package
    doc: str  # the model page the README description comes from
    exclude: Sequence[str] = ()  # configs of configs/<family>/ that are not this family's model
    notes: Dict[str, str] = field(default_factory=dict)  # checklist item -> what is true
    d2_configs: Sequence[str] = ()  # the family's detectron2 LazyConfigs (configs/detectron2/)


FAMILIES: Dict[str, Family] = {
    "fcn": Family(
        "mmseg",
        "fcn_vgg16",
        "docs/models/fcn.md",
        d2_configs=("fcn8s_vgg16_synthetic.py", "fcn8s-atonce_vgg16_voc12aug.py"),
        notes={
            "test": "no: no VOC weights converted from the reference release have been evaluated with this code",
            "train": "no: VOC training was not run (no GPU); the network is checked against the paper's "
            "parameter count and the reference Caffe geometry (crop offsets) in segclassics' tests",
        },
    ),
    "unet": Family(
        "mmseg",
        "paper_unet",
        "docs/models/unet.md",
        exclude=("mmseg_unet_s5_d16_fcn_drive_64x64.py",),  # mmseg's own UNet, a benchmark reference
        d2_configs=("unet_synthetic.py",),
        notes={
            "test": "no: the paper's weights are not available",
            "train": "no: only CPU-scale runs (see Results), far from the paper's schedule",
        },
    ),
    "segnet": Family(
        "mmseg",
        "segnet",
        "docs/models/segnet.md",
        d2_configs=("segnet_basic_synthetic.py", "segnet_basic_camvid.py"),
        notes={
            "test": "no: the reference Caffe weights have not been converted",
            "train": "no: only a CPU-scale SegNet-Basic run (see Results), far from the paper's schedule",
        },
    ),
    "setr": Family(
        "mmseg",
        "setr_vit",
        "docs/models/setr.md",
        d2_configs=("setr_pup_synthetic.py",),
        notes={
            "test": "partly: mmseg's own SETR-PUP/MLA weights, converted, give the same outputs as these "
            "modules (segclassics' tests); the paper's ADE20K numbers were not re-measured",
            "train": "no: ADE20K training was not run (no GPU)",
        },
    ),
    "mask_rcnn": Family(
        "mmdet",
        "checked_coco",
        "docs/models/mask_rcnn.md",
        d2_configs=(
            "mask_rcnn_R_50_FPN_coco.py",
            "mask_rcnn_R_50_FPN_isbi2012.py",
            "mask_rcnn_R_18_FPN_isbi2012.py",
            "mask_rcnn_VGG16_FPN_isbi2012.py",
            "mask_rcnn_ViT_SFP_isbi2012.py",
            "mask_rcnn_R_50_FPN_voc_tiny.py",
        ),
        notes={
            "test": "not applicable: the detector is mmdet's own Mask R-CNN; this project adds backbones, "
            "a checked COCO dataset and metric",
            "train": "CPU-scale only: R18-FPN from scratch on ISBI 2012 cells, 600 iterations (see Results)",
        },
    ),
}
SCOPE_PACKAGE = {"mmseg": "segclassics.mmseg", "mmdet": "segclassics.mmdet"}


class AssembleError(Exception):
    """Bad input or a source this tool cannot copy; printed as one ``error:`` line."""


# ----------------------------------------------------------------------------- configs


def config_bases(path: str) -> List[str]:
    """Files named by ``_base_`` in an mmengine config (package references like mmseg:: skipped)."""
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path)
    bases: List[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_base_" for t in node.targets):
            value = ast.literal_eval(node.value)
            bases = [value] if isinstance(value, str) else list(value)
    return [os.path.normpath(os.path.join(os.path.dirname(path), b)) for b in bases if "::" not in b]


def family_configs(family: str) -> List[str]:
    spec = FAMILIES[family]
    found = sorted(
        p for p in glob.glob(os.path.join(REPO, "configs", family, "*.py")) if os.path.basename(p) not in spec.exclude
    )
    if not found:
        raise AssembleError(f"no configs in configs/{family}/")
    return found


def config_closure(configs: Sequence[str]) -> List[str]:
    """The configs and every file they inherit through ``_base_``."""

    def bases(path: str) -> List[str]:
        if not os.path.isfile(path):
            raise AssembleError(f"{path}: named as _base_ but not found")
        return config_bases(path)

    return vendor.closure(configs, bases)


#: the real-data defaults of our configs ("../shared/data" beside the checkout, said relative to the
#: config file); upstream configs name data/<dataset> of the repository instead
SHARED_DATA_DEFAULT = re.compile(r"\{\{ fileDirname \}\}/(?:\.\./)+shared/data/")


def rewrite_config(text: str, path: str, framework: str, import_name: str) -> str:
    old = SCOPE_PACKAGE[framework]
    text = text.replace(f"'{old}'", f"'{import_name}'").replace(f'"{old}"', f'"{import_name}"')
    text = SHARED_DATA_DEFAULT.sub("data/", text)
    left = sorted(c for c in vendor.string_constants_of(text, path) if "segclassics" in c)
    if left:
        raise AssembleError(f"{path}: still refers to segclassics after rewriting custom_imports: {left}")
    return text


# ----------------------------------------------------------------------------- modules


def registrations(framework: str) -> Dict[str, str]:
    """{registered name: registering file} for segclassics.<framework>."""
    names: Dict[str, str] = {}
    for path in sorted(glob.glob(os.path.join(SRC, "segclassics", framework, "*.py"))):
        for name in vendor.registered_names(path):
            names[name] = path
    return names


def modules_for(config_files: Sequence[str], framework: str) -> Set[str]:
    """The import closure of the files registering every name the configs (and the copied code) use."""
    registered = registrations(framework)
    wanted: Set[str] = set()
    for path in config_files:
        wanted |= vendor.string_constants(path) & set(registered)
    while True:
        files = {registered[n] for n in wanted}
        closure = vendor.import_closure(files, SRC)
        more = set()
        for name in closure:
            more |= vendor.string_constants(vendor.module_file(name, SRC)) & set(registered)
        if more <= wanted:
            return closure
        wanted |= more


def new_name(old: str, package: str) -> str:
    """segclassics.a.b -> <package>.a.b: the copy keeps segclassics' layout (framework adapters in
    <package>/<framework>/, plain torch in <package>/models/, ...), so no two files can collide."""
    return package + old[len("segclassics") :]


def write_package(out: str, package: str, modules: Set[str], framework: str) -> List[str]:
    """Copy the modules with rewritten imports; returns the copied file paths."""
    mapping = lambda old: new_name(old, package)  # noqa: E731
    targets = {name: mapping(name) for name in sorted(modules)}
    written = []
    for old, new in sorted(targets.items()):
        src = vendor.module_file(old, SRC)
        is_package = os.path.basename(src) == "__init__.py"
        dst = (
            os.path.join(out, *new.split("."), "__init__.py")
            if is_package
            else os.path.join(out, *new.split(".")) + ".py"
        )
        with open(src) as f:
            text = f.read()
        text = vendor.rewrite_imports(text, src, SRC, new, mapping)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w") as f:
            f.write(text)
        written.append(dst)
    # Package __init__ files: importing the top one registers everything (what custom_imports does).
    registering = [
        targets[m].rsplit(".", 1)[1]
        for m in sorted(targets)
        if m.startswith(f"segclassics.{framework}.") and vendor.registered_names(vendor.module_file(m, SRC))
    ]
    for folder, _, _files in os.walk(os.path.join(out, package)):
        init = os.path.join(folder, "__init__.py")
        if os.path.exists(init):
            continue
        rel = os.path.relpath(folder, out).replace(os.sep, ".")
        if rel in (package, f"{package}.{framework}"):
            lines = [
                f'"""Registers this project\'s modules in {framework}\'s registries when imported.',
                "",
                'Generated from segclassics by dev/upstream/assemble.py."""',
            ]
            imports = [framework] if rel == package else registering
            lines += [f"from . import {m}  # noqa: F401" for m in imports]
            body = "\n".join(lines) + "\n"
        else:
            old_pkg = "segclassics." + ".".join(rel.split(".")[1:])
            doc = ""
            if vendor.module_file(old_pkg, SRC):
                with open(vendor.module_file(old_pkg, SRC)) as f:
                    doc = ast.get_docstring(ast.parse(f.read())) or ""
            body = f'"""{doc.strip() or rel}\n"""\n' if "\n" in doc.strip() else f'"""{doc.strip() or rel}"""\n'
        with open(init, "w") as f:
            f.write(body)
        written.append(init)
    return written


def check_no_segclassics_import(files: Sequence[str]) -> None:
    """Refuse a written file that still imports segclassics (absolute imports: the written
    package's own imports are relative)."""
    for path in files:
        for node, _, _ in vendor.segclassics_imports(path, SRC, config=True)[:1]:
            raise AssembleError(f"{path}:{node.lineno}: still imports segclassics")


# ----------------------------------------------------------------------------- project

TEST_TEMPLATE = '''"""Every config of this project builds its model with {library} alone.

Run from the {library} checkout root: ``python -m pytest projects/{name}/tests``.
Models are built on the meta device (no memory, no time).
"""
import glob
import os
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(PROJECT)))  # the checkout root: projects.{name} importable
CONFIGS = sorted(glob.glob(os.path.join(PROJECT, 'configs', '{family}', '*.py')))


def test_configs_exist():
    assert len(CONFIGS) == {count}


@pytest.mark.parametrize('path', CONFIGS, ids=[os.path.basename(p) for p in CONFIGS])
def test_config_builds_model(path):
    cfg = Config.fromfile(path)  # imports projects.{name}.{package} (custom_imports)
    init_default_scope(cfg.default_scope)
    try:
        with torch.device('meta'):
            model = MODELS.build(cfg.model)
    except RuntimeError as e:  # a framework part that calls .item() while building
        if 'meta' not in str(e):
            raise
        model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
'''


def _prepare(family: str, out: str, package: str | None, force: bool):
    """(spec, absolute out, project name, package) after checking the names; empties ``out``."""
    if family not in FAMILIES:
        raise AssembleError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    spec = FAMILIES[family]
    package = package or spec.package
    out = os.path.abspath(out)
    name = os.path.basename(out)
    for what, ident in (("project folder name", name), ("--package", package)):
        if not ident.isidentifier():
            raise AssembleError(
                f"{what} {ident!r} is not a Python identifier (it becomes part of "
                f"'projects.{name}.{package}'); use letters, digits and '_'"
            )
    if os.path.exists(out) and os.listdir(out):
        if not force:
            raise AssembleError(f"{out} exists and is not empty; pass --force to replace it")
        shutil.rmtree(out)
    return spec, out, name, package


def _registered(written: Sequence[str]) -> Dict[str, str]:
    return {n: p for p in written for n in vendor.registered_names(p)}


def assemble(family: str, out: str, package: str | None = None, force: bool = False) -> Dict[str, object]:
    """The OpenMMLab project of ``family`` in ``out`` (see the module docstring)."""
    spec, out, name, package = _prepare(family, out, package, force)
    import_name = f"projects.{name}.{package}"

    configs = family_configs(family)
    config_files = config_closure(configs)
    modules = modules_for(config_files, spec.framework)
    os.makedirs(out, exist_ok=True)
    written = write_package(out, package, modules, spec.framework)
    check_no_segclassics_import(written)

    configs_root = os.path.join(REPO, "configs")
    for path in config_files:
        dst = os.path.join(out, "configs", os.path.relpath(path, configs_root))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(path) as f:
            text = rewrite_config(f.read(), path, spec.framework, import_name)
        with open(dst, "w") as f:
            f.write(text)

    metafile = project_readme.write_metafile(REPO, family, out, name)
    os.makedirs(os.path.join(out, "tests"), exist_ok=True)
    library = "mmsegmentation" if spec.framework == "mmseg" else "mmdetection"
    with open(os.path.join(out, "tests", "test_configs.py"), "w") as f:
        f.write(TEST_TEMPLATE.format(library=library, name=name, package=package, family=family, count=len(configs)))
    registered = _registered(written)
    project_readme.write_readme(
        REPO,
        out,
        family=family,
        framework=spec.framework,
        library=library,
        name=name,
        package=package,
        doc=spec.doc,
        configs=[os.path.basename(c) for c in configs],
        registered=registered,
        written=written,
        requirements=sorted(vendor.third_party_imports(written)),
        notes=spec.notes,
        metafile=metafile,
    )
    wrap.wrap_tree(out, OPENMMLAB_LINE_LENGTH - YAPF_MARGIN)  # upstream checks 79 columns; our sources have 120
    return dict(
        out=out, import_name=import_name, configs=len(configs), modules=len(written), registered=sorted(registered)
    )


def assemble_detectron2(family: str, out: str, package: str | None = None, force: bool = False) -> Dict[str, object]:
    """The detectron2 project of ``family`` in ``out`` (see dev/upstream/detectron2_project.py)."""
    spec, out, name, package = _prepare(family, out, package, force)
    if not spec.d2_configs:
        raise AssembleError(f"family {family!r} has no detectron2 configs")
    d2_root = os.path.join(REPO, "configs", "detectron2")
    configs = [os.path.join(d2_root, c) for c in spec.d2_configs]
    config_files = detectron2_project.config_closure(configs)
    imported = {m for c in config_files for m in vendor.imported_modules(c, SRC, config=True)}
    modules = vendor.import_closure([], SRC, imported)
    os.makedirs(out, exist_ok=True)
    written = write_package(out, package, modules, "detectron2")
    mapping = lambda old: new_name(old, package)  # noqa: E731
    for path in config_files:
        dst = os.path.join(out, "configs", os.path.relpath(path, d2_root))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(path) as f:
            text = vendor.rewrite_imports(f.read(), path, SRC, "", mapping, config=True)
        with open(dst, "w") as f:
            f.write(text)
        written.append(dst)
    check_no_segclassics_import(written)
    os.makedirs(os.path.join(out, "tests"), exist_ok=True)
    with open(os.path.join(out, "tests", "test_configs.py"), "w") as f:
        f.write(detectron2_project.TEST_TEMPLATE.format(name=name, count=len(configs)))
    meta = project_readme.read_metafile(REPO, family)
    package_files = [w for w in written if w.startswith(os.path.join(out, package) + os.sep)]
    registered = _registered(package_files)
    detectron2_project.write_readme(
        REPO,
        out,
        family=family,
        name=name,
        package=package,
        doc=spec.doc,
        paper=meta["Collections"][0]["Paper"],
        configs=list(spec.d2_configs),
        registered=registered,
        requirements=sorted(vendor.third_party_imports(package_files)),
        description=project_readme.description(REPO, spec.doc),
        pins=project_readme.tested_versions(REPO),
    )
    wrap.wrap_tree(out, DETECTRON2_LINE_LENGTH)
    return dict(
        out=out, import_name=package, configs=len(configs), modules=len(package_files), registered=sorted(registered)
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("family", help=f"one of {', '.join(FAMILIES)}")
    p.add_argument("out_dir", help="the project folder to write, e.g. ~/mmsegmentation/projects/paper_unet")
    p.add_argument("--package", default=None, help="name of the copied Python package (default per family)")
    p.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    p.add_argument(
        "--detectron2",
        action="store_true",
        help="write a detectron2 projects/ folder from the family's LazyConfigs instead",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    args = p.parse_args(argv)
    try:
        build = assemble_detectron2 if args.detectron2 else assemble
        info = build(args.family, args.out_dir, args.package, args.force)
    except (AssembleError, vendor.VendorError) as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    how = (
        f"train from it with PYTHONPATH=. (package {info['import_name']})"
        if args.detectron2
        else f"custom_imports = dict(imports=['{info['import_name']}'], allow_failed_imports=False)"
    )
    print(f"wrote {info['out']}: {info['configs']} configs, {info['modules']} Python files; {how}")
    print("registered: " + ", ".join(info["registered"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
