"""README.md and metafile.yaml of an assembled OpenMMLab project (``dev/upstream/assemble.py``).

The README follows mmsegmentation's ``projects/example_project/README.md`` template
(Description, Usage, Results, Citation, Checklist). Everything in it comes from this
repository: the paper and results from ``configs/<family>/metafile.yaml`` (results as measured,
with the machine), the description from the model page, the tested versions from
``requirements/pinned.txt``; checklist items are ticked only where that is true.
"""

from __future__ import annotations

import ast
import os
import re
from typing import Dict, List, Sequence

import yaml


def read_metafile(repo: str, family: str) -> dict:
    with open(os.path.join(repo, "configs", family, "metafile.yaml")) as f:
        return yaml.safe_load(f)


def write_metafile(repo: str, family: str, out: str, name: str) -> dict:
    """The family's metafile with paths inside ``projects/<name>/``; returns it."""
    meta = read_metafile(repo, family)
    for coll in meta.get("Collections", []):
        coll["README"] = f"projects/{name}/README.md"
    for model in meta.get("Models", []):
        model["Config"] = f"projects/{name}/{model['Config']}"
    path = os.path.join(out, "configs", family, "metafile.yaml")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(meta, f, sort_keys=False, allow_unicode=True)
    return meta


def tested_versions(repo: str) -> Dict[str, str]:
    """{package: '==x.y.z'} of the exact pins in requirements/pinned.txt."""
    pins = {}
    with open(os.path.join(repo, "requirements", "pinned.txt")) as f:
        for line in f:
            m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s#]+)", line)
            if m:
                pins[m.group(1).lower()] = m.group(2)
    return pins


def description(repo: str, doc: str) -> str:
    """The model page's introduction: the text between its title and its first table or section."""
    with open(os.path.join(repo, doc)) as f:
        lines = f.read().splitlines()
    body: List[str] = []
    for line in lines[1:]:
        if line.startswith("|") or line.startswith("#"):
            break
        body.append(line)
    return "\n".join(body).strip()


def undocumented_classes(written: Sequence[str], registered: Dict[str, str]) -> List[str]:
    """Registered names whose class (in the copied files) has no docstring."""
    classes = {}
    for path in written:
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, ast.get_docstring(node))
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "register_module"
            ):
                kw = {k.arg: k.value for k in node.keywords}
                if isinstance(kw.get("module"), ast.Name) and isinstance(kw.get("name"), ast.Constant):
                    classes.setdefault("->" + kw["name"].value, kw["module"].id)
    missing = []
    for name in registered:
        target = classes.get("->" + name, name)
        if not classes.get(target):
            missing.append(name)
    return sorted(missing)


def _box(done: bool) -> str:
    return "[x]" if done else "[ ]"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """A table as mdformat (OpenMMLab's pre-commit hook, with mdformat-tables) writes it: every
    column padded to its widest cell (at least 3), columns ``right`` right-aligned."""
    widths = [max(3, len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells):
        return (
            "| "
            + " | ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
            + " |"
        )

    rule = "| " + " | ".join("-" * (w - 1) + ":" if i in right else "-" * w for i, w in enumerate(widths)) + " |"
    return "\n".join([line(header), rule, *(line(r) for r in rows)]) + "\n"


def results_table(meta: dict, name: str) -> str:
    rows = []
    for model in meta.get("Models", []):
        results = model.get("Results")
        if not results:
            continue
        for res in results if isinstance(results, list) else [results]:
            metrics = ", ".join(f"{k} {v}" for k, v in res["Metrics"].items())
            md = model.get("Metadata", {})
            rows.append(
                [
                    f"[{model['Name']}](configs/{model['Config'].split('/configs/', 1)[1]})",
                    str(res["Dataset"]),
                    str(md.get("backbone", "")),
                    str(md.get("crop size", "")),
                    str(md.get("lr schd", "")),
                    metrics,
                    str(md.get("Training Resources", "")),
                    "-",
                ]
            )
    if not rows:
        return ""
    header = ["config", "dataset", "backbone", "crop size", "lr schd", "metrics (measured)", "machine", "download"]
    return markdown_table(header, rows, right=(4,))


def write_readme(
    repo: str,
    out: str,
    *,
    family: str,
    framework: str,
    library: str,
    name: str,
    package: str,
    doc: str,
    configs: Sequence[str],
    registered: Dict[str, str],
    written: Sequence[str],
    requirements: Sequence[str],
    notes: Dict[str, str],
    metafile: dict,
) -> str:
    coll = metafile["Collections"][0]
    paper = coll["Paper"]
    pins = tested_versions(repo)
    lib_pin = pins.get("mmsegmentation" if framework == "mmseg" else "mmdet", "?")
    extra = [r for r in requirements if r not in ("torch", "numpy", "mmengine", "mmcv", "mmseg", "mmdet")]
    results = results_table(metafile, name)
    results_text = (
        results + "\nThese are the measured results of short runs on the machine named in each row, not the paper "
        "budget: they show that training and evaluation run end to end. No weights are published yet."
        if results
        else "No accuracy has been measured with this code for these configs yet. " + notes.get("train", "")
    )
    missing_doc = undocumented_classes(written, registered)
    modules = markdown_table(
        ["name", "file"], [[f"`{n}`", f"`{os.path.relpath(p, out)}`"] for n, p in sorted(registered.items())]
    )
    first = configs[0]
    cmd_cfg = f"projects/{name}/configs/{family}/{first}"
    text = f"""# {paper["Title"]} ({coll["Name"]})

## Description

Author: fill in the GitHub handle of whoever submits this project.

This project implements [{paper["Title"]}]({paper["URL"]}) for {library}. It was generated from
segclassics by `dev/upstream/assemble.py {family}`; the modules are
segclassics' own, with their imports made relative, so the project needs {library} and no
segclassics package.

{description(repo, doc)}

Registered in {framework}'s registries when a config imports `projects.{name}.{package}`:

{modules}
## Usage

### Prerequisites

- Python >= 3.10
- PyTorch (tested: 2.14.1, CPU)
- [MMEngine](https://github.com/open-mmlab/mmengine) (tested: {pins.get("mmengine", "?")}),
  [MMCV](https://github.com/open-mmlab/mmcv) (tested: {pins.get("mmcv", "?")})
- [{"MMSegmentation" if framework == "mmseg" else "MMDetection"}](https://github.com/open-mmlab/{library}) (tested: {lib_pin})
- Other Python packages the modules import: {", ".join(f"`{r}`" for r in extra) or "none"}

Every command below runs from the root of the {library} checkout, which holds this folder as
`projects/{name}`: the configs import the modules as `projects.{name}.{package}`
(`custom_imports`), so the checkout root must be on `PYTHONPATH` (it is when you run from it).

### Training commands

```shell
python tools/train.py {cmd_cfg}
# or with MIM
PYTHONPATH=`pwd`:$PYTHONPATH mim train {library} {cmd_cfg} --work-dir work_dirs/{name}
```

To train on multiple GPUs, e.g. 8 GPUs:

```shell
bash tools/dist_train.sh {cmd_cfg} 8
```

### Testing commands

```shell
python tools/test.py {cmd_cfg} ${{CHECKPOINT_PATH}}
python -m pytest projects/{name}/tests   # builds every config's model
```

Configs: {", ".join(f"`configs/{family}/{c}`" for c in configs)}.

## Results

{results_text}

## Citation

[{paper["Title"]}]({paper["URL"]})

## Checklist

- {_box(False)} Milestone 1: PR-ready, and acceptable to be one of the `projects/`.

  - {_box(True)} Finish the code: every module is registered in {framework}'s registries and configurable from the configs here.

  - {_box(not missing_doc)} Basic docstrings & proper citation{": every registered class has a docstring" if not missing_doc else ": missing for " + ", ".join(missing_doc)}.

  - {_box(notes.get("test", "").startswith("yes"))} Test-time correctness: {notes.get("test", "not checked")}.

  - {_box(True)} A full README (this file; the download column is empty until weights are published).

- {_box(False)} Milestone 2: Indicates a successful model implementation.

  - {_box(notes.get("train", "").startswith("yes"))} Training-time correctness: {notes.get("train", "not checked")}.

- {_box(False)} Milestone 3: Good to be a part of our core package!

  - {_box(False)} Type hints and docstrings: not every method has both.

  - {_box(False)} Unit tests: `tests/` here only builds every config; the unit tests of these modules are segclassics' (not copied).

  - {_box(False)} Code polishing.

  - {_box(True)} Metafile.yml: `configs/{family}/metafile.yaml`.

  - {_box(False)} Move your modules into the core package following the codebase's file hierarchy structure.

  - {_box(False)} Refactor your modules into the core package following the codebase's file hierarchy structure.
"""
    path = os.path.join(out, "README.md")
    with open(path, "w") as f:
        f.write(text)
    return path
