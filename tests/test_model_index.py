"""model-index.yml and configs/<family>/metafile.yaml: OpenMMLab's model-index format, true to the configs
and to the measured numbers in docs/model_zoo.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from helpers import REPO

FAMILIES = ["fcn", "mask_rcnn", "segnet", "setr", "unet"]
# Configs of a family folder that are not that family's model (mmseg's own UNet, a benchmark reference).
NOT_INDEXED = {"configs/unet/mmseg_unet_s5_d16_fcn_drive_64x64.py"}
# the machines the results were measured on, named as segclassics.engine.reproduce.machine_name() (the
# AMD one before that function named the vector unit)
MACHINES = {"2-core AMD EPYC CPU, no GPU", "2-core Intel(R) Xeon(R) Processor (AVX512) CPU, no GPU"}


def metafiles():
    index = yaml.safe_load((REPO / "model-index.yml").read_text())
    return {path: yaml.safe_load((REPO / path).read_text()) for path in index["Import"]}


def all_models():
    return [(path, model) for path, meta in metafiles().items() for model in meta["Models"]]


MODELS = all_models()


def test_index_imports_one_metafile_per_family():
    assert sorted(metafiles()) == [f"configs/{f}/metafile.yaml" for f in FAMILIES]


def test_every_family_config_is_indexed_once_with_a_unique_name():
    names = [m["Name"] for _, m in MODELS]
    assert len(names) == len(set(names))
    configs = [m["Config"] for _, m in MODELS]
    assert len(configs) == len(set(configs))
    shipped = {str(p.relative_to(REPO)) for f in FAMILIES for p in (REPO / "configs" / f).glob("*.py")}
    assert set(configs) == shipped - NOT_INDEXED


@pytest.mark.parametrize("path,meta", metafiles().items(), ids=list(metafiles()))
def test_metafile_format(path, meta):
    assert set(meta) == {"Collections", "Models"}
    collections = {c["Name"] for c in meta["Collections"]}
    for coll in meta["Collections"]:
        assert {"Name", "Metadata", "Paper", "README"} <= set(coll)
        assert coll["Paper"]["URL"].startswith("https://arxiv.org/abs/") and coll["Paper"]["Title"]
        assert (REPO / coll["README"]).is_file()
    for model in meta["Models"]:
        assert {"Name", "In Collection", "Config", "Metadata", "Weights"} <= set(model)
        assert model["In Collection"] in collections
        assert model["Config"].startswith(str(Path(path).parent) + "/")
        assert (REPO / model["Config"]).is_file()
        assert model["Weights"] == "" or "Results" in model  # published weights come with their numbers
        assert model["Metadata"]["Training Data"]
        if "Results" in model:
            assert model["Metadata"]["Training Resources"] in MACHINES
            results = model["Results"] if isinstance(model["Results"], list) else [model["Results"]]
            for res in results:
                assert {"Task", "Dataset", "Metrics"} <= set(res) and res["Metrics"]


def _config(path):
    from mmengine.config import Config

    return Config.fromfile(str(REPO / path), import_custom_modules=False)


def _crop_size(cfg):
    """The training crop, else the fixed network input size (mmseg's data_preprocessor.size), else None."""
    for step in cfg.train_dataloader.dataset.get("pipeline", []):
        if "crop_size" in step:
            return tuple(step["crop_size"])
    size = cfg.model.get("data_preprocessor", {}).get("size")
    return tuple(size) if size else None


@pytest.mark.parametrize("path,model", MODELS, ids=[m["Name"] for _, m in MODELS])
def test_metadata_matches_the_config(path, model):
    cfg = _config(model["Config"])
    md = model["Metadata"]
    assert md["Batch Size"] == cfg.train_dataloader.batch_size
    if "lr schd" in md:
        assert md["lr schd"] == cfg.train_cfg.max_iters
    if "Epochs" in md:
        assert md["Epochs"] == cfg.train_cfg.max_epochs
    assert ("lr schd" in md) != ("Epochs" in md)
    if "crop size" in md:
        assert tuple(int(v) for v in re.findall(r"\d+", md["crop size"])) == _crop_size(cfg)
    else:
        assert _crop_size(cfg) is None
    built = {v.split(".")[-1] for v in re.findall(r"type='([^']+)'", cfg.pretty_text)}  # 'mmseg.X' -> 'X'
    for part in md.get("Architecture", []):
        if part != "RPN":  # mmdet's name for the region proposal network (type 'RPNHead')
            assert part in built, f"{part} is not a type in {model['Config']}"


WITH_RESULTS = [(p, m) for p, m in MODELS if "Results" in m]


@pytest.mark.parametrize("path,model", WITH_RESULTS, ids=[m["Name"] for _, m in WITH_RESULTS])
def test_results_are_the_model_zoo_numbers(path, model):
    rows = [
        line
        for line in (REPO / "docs" / "model_zoo.md").read_text().splitlines()
        if line.startswith("|") and f"`{model['Config']}`" in line
    ]
    assert len(rows) == 1, f"docs/model_zoo.md needs one row naming `{model['Config']}`"
    numbers = {float(v) for v in re.findall(r"\d+\.\d+|\d+", rows[0].split(f"`{model['Config']}`", 1)[1])}
    results = model["Results"] if isinstance(model["Results"], list) else [model["Results"]]
    for res in results:
        for metric, value in res["Metrics"].items():
            assert float(value) in numbers, f"{model['Name']}: {metric} {value} is not in the model zoo row"


def test_openmmlab_model_index_reader_lists_ours():
    """The reader OpenMMLab's ``mim search`` uses (package model-index) loads our index."""
    load = pytest.importorskip("modelindex.load_model_index").load
    index = load(str(REPO / "model-index.yml"))
    assert sorted(m.name for m in index.models) == sorted(m["Name"] for _, m in MODELS)
    by_name = {m.name: m for m in index.models}
    for _, model in WITH_RESULTS:
        results = by_name[model["Name"]].results
        assert results and {r.dataset for r in results} <= {model["Metadata"]["Training Data"]}
