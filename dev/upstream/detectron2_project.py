"""A detectron2 ``projects/<Name>`` folder for one model family (``assemble.py FAMILY OUT --detectron2``).

The layout of detectron2's LazyConfig projects (``projects/ViTDet``, ``projects/MViTv2``)::

    OUT/README.md                what it is, how to train/evaluate, results measured here, citation
    OUT/configs/*.py             the family's LazyConfigs (+ the config files they import), with
                                 ``from segclassics.detectron2.x import Y`` -> ``from <package>.x import Y``
    OUT/<package>/               the detectron2 adapters the configs import and every segclassics
                                 module they import, with relative imports; its ``__init__``
                                 imports the files that register backbones/heads (for yaml users)
    OUT/tests/test_configs.py    instantiates every config's model with detectron2 alone

Training runs from the project folder with detectron2's own script:
``PYTHONPATH=. python ../../tools/lazyconfig_train_net.py --config-file configs/X.py``.
"""

from __future__ import annotations

import ast
import os
from typing import Dict, List, Sequence

import vendor

TEST_TEMPLATE = '''"""Every LazyConfig of this project instantiates its model with detectron2 alone.

Run from the detectron2 checkout root: ``python -m pytest projects/{name}/tests``.
Models are built on the meta device where detectron2 allows it (no memory, no time).
"""
import glob
import os
import sys

import pytest
import torch

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT)  # what PYTHONPATH=. does when training from the project folder
from detectron2.config import LazyConfig, instantiate  # noqa: E402

CONFIGS = sorted(glob.glob(os.path.join(PROJECT, 'configs', '*.py')))


def test_configs_exist():
    assert len(CONFIGS) == {count}


@pytest.mark.parametrize('path', CONFIGS, ids=[os.path.basename(p) for p in CONFIGS])
def test_config_builds_model(path):
    cfg = LazyConfig.load(path)
    try:
        with torch.device('meta'):
            model = instantiate(cfg.model)
    except RuntimeError as e:  # a part that calls .item() while building
        if 'meta' not in str(e):
            raise
        model = instantiate(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
'''


def config_closure(configs: Sequence[str]) -> List[str]:
    """The LazyConfig files and the config files they import relatively (``from .common.x import y``)."""

    def imported_configs(path: str) -> List[str]:
        with open(path) as f:
            tree = ast.parse(f.read(), filename=path)
        found = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = os.path.dirname(path)
                for _ in range(node.level - 1):
                    base = os.path.dirname(base)
                parts = node.module.split(".") if node.module else []
                candidates = (
                    [os.path.join(base, *parts) + ".py"]
                    if parts
                    else [os.path.join(base, a.name + ".py") for a in node.names]
                )
                for c in candidates:
                    if not os.path.isfile(c):
                        raise vendor.VendorError(f"{path}:{node.lineno}: imports {c}, which does not exist")
                    found.append(c)
        return found

    return vendor.closure(configs, imported_configs)


def model_zoo_rows(repo: str, config_names: Sequence[str]) -> List[List[str]]:
    """Rows of docs/model_zoo.md's reproduction table that name one of these detectron2 configs."""
    rows = []
    with open(os.path.join(repo, "docs", "model_zoo.md")) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 6 and any(cells[1] == f"`configs/detectron2/{c}`" for c in config_names):
                rows.append(cells)
    return rows


def write_readme(
    repo: str,
    out: str,
    *,
    family: str,
    name: str,
    package: str,
    doc: str,
    paper: Dict[str, str],
    configs: Sequence[str],
    registered: Dict[str, str],
    requirements: Sequence[str],
    description: str,
    pins: Dict[str, str],
) -> str:
    rows = model_zoo_rows(repo, configs)
    if rows:
        results = (
            "| model | config | data | schedule | result (measured) |\n| --- | --- | --- | --- | --- |\n"
            + "\n".join(
                f"| {r[0]} | `configs/{r[1].strip('`').rsplit('/', 1)[1]}` | {r[2]} | {r[3]} | {r[4]} |" for r in rows
            )
            + "\n\nMeasured on a 2-core AMD EPYC CPU without GPU (short CPU-scale runs, not the "
            "paper's budget). No weights are published yet.\n"
        )
    else:
        results = "No accuracy has been measured with these detectron2 configs yet.\n"
    module_rows = "\n".join(f"| `{n}` | `{os.path.relpath(p, out)}` |" for n, p in sorted(registered.items()))
    extra = [r for r in requirements if r not in ("torch", "numpy", "detectron2", "fvcore")]
    first = configs[0]
    text = f"""# {paper["Title"]} in detectron2

This project implements [{paper["Title"]}]({paper["URL"]}) for detectron2. It was generated from
segclassics by `dev/upstream/assemble.py {family} OUT --detectron2`; the modules are segclassics'
own, with their imports made relative, so the project needs detectron2 and no segclassics package
(and no OpenMMLab package).

{description}

Registered in detectron2's registries when `{package}` is imported (the configs import the classes
directly):

| name | file |
| --- | --- |
{module_rows or "| (none: the configs use the classes directly) | |"}

## Installation

Install detectron2 following [its instructions](https://detectron2.readthedocs.io/tutorials/install.html)
(tested: detectron2 {pins.get("sal-detectron2", "?")}, PyTorch 2.14.1 on CPU).
Other Python packages the modules import: {", ".join(f"`{r}`" for r in extra) or "none"}.

## Training

```bash
cd /path/to/detectron2/projects/{name}
PYTHONPATH=. python ../../tools/lazyconfig_train_net.py --config-file configs/{first}
```

## Evaluation

```bash
cd /path/to/detectron2/projects/{name}
PYTHONPATH=. python ../../tools/lazyconfig_train_net.py --config-file configs/{first} --eval-only \\
    train.init_checkpoint=/path/to/model_final.pth
python -m pytest tests   # instantiates every config's model
```

Configs: {", ".join(f"`configs/{c}`" for c in configs)}.

## Results

{results}
## Citation

[{paper["Title"]}]({paper["URL"]})
"""
    path = os.path.join(out, "README.md")
    with open(path, "w") as f:
        f.write(text)
    return path
