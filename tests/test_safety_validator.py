"""The input validators: checkpoint contents, stored images and labels, resume, override values,
class counts, metrics, inputs that are not files. Each case here was a silent wrong result (exit
0) or a hang; now it is one line naming the file and what would be right.

Case tables first, then the properties over generated images, label files and override strings.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from helpers import REPO, data_root_overrides, error_message, random_weights, run_infer
from segclassics.datasets.sample_checks import DataError, check_stored_image, check_stored_label
from segclassics.errors import UserError
from segclassics.utils.checkpoint import CheckpointMismatchError, NonFiniteCheckpointError
from segclassics.utils.resume import ResumeError, resume_checkpoint

UNET = REPO / "configs/unet/unet_synthetic.py"
PROPERTY = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def fresh_run():
    from segclassics.utils import writer

    writer.forget_created()
    yield


def non_finite_weights(tmp_path: Path, config=UNET) -> Path:
    path = random_weights(config, tmp_path / "diverged.pth")
    data = torch.load(path)
    key = "state_dict" if "state_dict" in data else "model"
    name = next(k for k, v in data[key].items() if v.is_floating_point())
    data[key][name].view(-1)[0] = float("nan")
    torch.save(data, path)
    return path


# ----------------------------------------------------------------------------- checkpoint contents


def _infer(path):
    from segclassics.engine.inference import build_predictor

    build_predictor(str(UNET), str(path), "cpu")


def _export(path):
    from segclassics.deploy.cli import build

    build(str(UNET), str(path), [], False)


def _d2_test(path):
    from detectron2.config import LazyConfig, instantiate

    import segclassics.detectron2  # noqa: F401
    from segclassics.detectron2.checkpointer import SafeDetectionCheckpointer

    model = instantiate(LazyConfig.load(str(REPO / "configs/detectron2/unet_synthetic.py")).model)
    SafeDetectionCheckpointer(model).load_exact(str(path))


NON_FINITE_CASES = [
    ("infer.py", _infer, UNET),
    ("export_onnx.py", _export, UNET),
    ("detectron2 test", _d2_test, REPO / "configs/detectron2/unet_synthetic.py"),
]


@pytest.mark.parametrize("how,load,config", NON_FINITE_CASES, ids=[c[0] for c in NON_FINITE_CASES])
def test_non_finite_weights_are_refused_at_load(tmp_path, how, load, config):
    path = non_finite_weights(tmp_path, config)
    with pytest.raises(NonFiniteCheckpointError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: 1 weight tensor(s) hold infinities or NaNs (e.g. ") and "\n" not in message


@pytest.mark.slow
def test_test_py_refuses_non_finite_weights(run_tool, tmp_path, synthetic_root):
    path = non_finite_weights(tmp_path)
    proc = run_tool(
        "test.py",
        UNET,
        path,
        "--work-dir",
        tmp_path / "w",
        "--cfg-options",
        f"test_dataloader.dataset.data_root={synthetic_root}",
    )
    assert error_message(proc).startswith(f"{path}: 1 weight tensor(s) hold infinities or NaNs")


def test_mismatch_names_the_file_and_no_option_that_does_not_exist(tmp_path):
    from segclassics.utils.checkpoint import check_state_dict

    model = torch.nn.Linear(2, 3)
    with pytest.raises(CheckpointMismatchError) as info:
        check_state_dict(model, {"weight": torch.zeros(3, 2), "other": torch.zeros(1)}, source="x.pth")
    assert str(info.value) == (
        "x.pth does not match Linear: 1 weights of the model missing in the file (bias); "
        "1 unexpected (other); it holds another model's weights: use the config it was "
        "trained with, or convert it with the matching converter "
        "(python -m segclassics.tools.convert_weights.vgg16_torchvision or .vit_timm)"
    )


def test_a_starting_point_sharing_no_weight_is_refused(tmp_path):
    from segclassics.utils.checkpoint import check_shares_weights

    model = torch.nn.Linear(2, 3)
    check_shares_weights(model, {"module.weight": torch.zeros(3, 2), "fc.x": torch.zeros(1)}, "a.pth", "load_from")
    with pytest.raises(CheckpointMismatchError) as info:
        check_shares_weights(model, {"features.0.weight": torch.zeros(3, 2)}, "b.pth", "load_from")
    assert str(info.value).startswith(
        "load_from b.pth: none of its 1 weights fits Linear (the file has "
        "features.0.weight; the model has bias, weight)"
    )


def test_detectron2_init_checkpoint_that_is_an_mmengine_file(tmp_path):
    """An mmengine training checkpoint (state_dict + message hub) as detectron2's starting point:
    one line, not ``ValueError: Unsupported type found in checkpoint``."""
    import segclassics.detectron2  # noqa: F401
    from segclassics.detectron2.checkpointer import SafeDetectionCheckpointer

    path = tmp_path / "iter_2.pth"
    torch.save(
        {
            "state_dict": {"backbone.conv.weight": torch.zeros(1)},
            "message_hub": {"x": np.zeros(1)},
            "meta": {"iter": 2},
        },
        path,
    )
    with pytest.raises(CheckpointMismatchError, match=f"init_checkpoint {path}: none of its 1 weights fits Linear"):
        SafeDetectionCheckpointer(torch.nn.Linear(2, 3)).load_starting_point(str(path))


@pytest.mark.slow
def test_train_refuses_load_from_sharing_no_weight(run_tool, tmp_path, synthetic_root):
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"features.0.weight": torch.zeros(3)}}, other)
    proc = run_tool(
        "train.py",
        UNET,
        "--work-dir",
        tmp_path / "w",
        "--cfg-options",
        f"load_from={other}",
        *data_root_overrides(synthetic_root, ("train", "val")),
    )
    assert error_message(proc).startswith(f"load_from {other}: none of its 1 weights fits EncoderDecoder")


# ----------------------------------------------------------------------------- resume


def _training_checkpoint(path: Path) -> Path:
    torch.save({"state_dict": {"w": torch.ones(1)}, "message_hub": {}, "optimizer": {}}, path)
    return path


def _weights_only(path: Path) -> Path:
    torch.save({"state_dict": {"w": torch.ones(1)}, "meta": {"iter": 2}}, path)
    return path


def test_resume_rules(tmp_path):
    work = tmp_path / "w"
    with pytest.raises(ResumeError, match=f"--resume: the work dir {work} does not exist"):
        resume_checkpoint(str(work))
    work.mkdir()
    with pytest.raises(ResumeError, match=f"--resume: the work dir {work} holds no training checkpoint"):
        resume_checkpoint(str(work))
    _weights_only(work / "last_weights.pth")
    with pytest.raises(ResumeError, match=r"holds last_weights.pth: weights only or incomplete"):
        resume_checkpoint(str(work))
    with pytest.raises(ResumeError, match="the file holds weights only"):
        resume_checkpoint(str(work), str(work / "last_weights.pth"))
    iter2 = _training_checkpoint(work / "iter_2.pth")
    os.utime(iter2, (1, 1))  # older than last_weights.pth, as after a finished run
    (work / "last_checkpoint").write_text("")  # emptied
    assert resume_checkpoint(str(work)) == str(iter2)


def test_resume_from_a_renamed_work_dir(tmp_path):
    """mmengine's last_checkpoint holds an absolute path; after a rename it names the old folder."""
    old, new = tmp_path / "run", tmp_path / "run_renamed"
    old.mkdir()
    _training_checkpoint(old / "iter_4.pth")
    (old / "last_checkpoint").write_text(str(old / "iter_4.pth"))
    _weights_only(old / "last_weights.pth")
    old.rename(new)
    assert resume_checkpoint(str(new)) == str(new / "iter_4.pth")


@pytest.mark.slow
@pytest.mark.parametrize(
    "config,opts",
    [
        (UNET, ["--cfg-options", "train_cfg.max_iters=2"]),
        (REPO / "configs/detectron2/unet_synthetic.py", ["train.max_iter=2"]),
    ],
    ids=["mmseg", "detectron2"],
)
def test_train_resume_into_an_empty_work_dir(run_tool, tmp_path, config, opts):
    proc = run_tool("train.py", config, "--work-dir", tmp_path / "mistyped", "--resume", *opts)
    assert error_message(proc).startswith(f"--resume: the work dir {tmp_path / 'mistyped'} does not exist")


# ----------------------------------------------------------------------------- stored images and labels


def _label_16bit(path: Path, values) -> Path:
    Image.fromarray(np.asarray(values, np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I;16")
    return path


def _mmseg_label(path: Path, num_classes: int = 6):
    import segclassics.mmseg  # noqa: F401
    from segclassics.mmseg.checked_load_annotations import CheckedLoadAnnotations

    results = {"seg_map_path": str(path), "reduce_zero_label": False, "seg_fields": [], "ori_shape": (2, 2)}
    return CheckedLoadAnnotations(num_classes=num_classes)(results)["gt_seg_map"]


def test_16bit_labels_are_read_as_stored(tmp_path):
    high = _label_16bit(tmp_path / "high.png", [[0, 256], [1, 1]])
    with pytest.raises(DataError) as info:
        _mmseg_label(high)
    assert str(info.value).startswith(f"label {high} is a 16-bit image with values up to 256; labels are read as 8 bit")
    low = _label_16bit(tmp_path / "low.png", [[0, 5], [1, 255]])
    assert _mmseg_label(low).tolist() == [[0, 5], [1, 255]]  # 8-bit values in a 16-bit file: exact


def test_detectron2_palette_label_beyond_the_first(tmp_path):
    label = tmp_path / "b.png"
    image = Image.fromarray(np.zeros((2, 2), np.uint8), mode="L").convert("P")
    image.putpalette([0, 0, 0, 192, 128, 128] * 128)
    image.save(label)
    with pytest.raises(DataError, match="is a palette \\('P'\\) PNG"):
        check_stored_label(str(label), palette_reads_as_grey=True)
    check_stored_label(str(label))  # mmseg keeps the indices of a palette PNG


def _exif_jpeg(path: Path, orientation: int, size=(8, 4)) -> Path:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif.tobytes(), quality=95)
    return path


def test_exif_rotated_images_are_refused(tmp_path):
    import mmcv

    path = _exif_jpeg(tmp_path / "photo.jpg", 6)
    assert mmcv.imread(str(path)).shape[:2] == (8, 4)  # OpenCV rotates it; its label PNG stays 4 x 8
    with pytest.raises(DataError) as info:
        check_stored_image(str(path))
    assert str(info.value).startswith(f"image {path} carries an EXIF orientation (6: rotated 90 degrees)")
    check_stored_image(str(_exif_jpeg(tmp_path / "upright.jpg", 1)))


def test_16bit_images_are_not_narrowed_silently(tmp_path):
    path = tmp_path / "scan.png"
    Image.fromarray(np.full((2, 2), 40000, np.uint16)).save(path)
    with pytest.raises(DataError, match="stores 16 bits per sample"):
        check_stored_image(str(path))
    check_stored_image(str(path), decodes_unchanged=True)


# ----------------------------------------------------------------------------- metrics


def test_undefined_metrics_stay_json():
    from segclassics.evaluation.report import split_undefined

    metrics, undefined = split_undefined({"mIoU": float("nan"), "aAcc": np.float32(91.5), "n": 3, "mAcc": float("inf")})
    assert metrics == {"mIoU": None, "aAcc": 91.5, "n": 3, "mAcc": None} and undefined == ["mIoU", "mAcc"]
    assert json.loads(json.dumps(metrics, allow_nan=False)) == metrics


@pytest.mark.slow
def test_all_ignore_validation_reports_undefined_metrics(run_tool, tmp_path, synthetic_root):
    root = tmp_path / "syn"
    shutil.copytree(synthetic_root, root)
    for label in (root / "ann_dir" / "val").glob("*.png"):
        Image.fromarray(np.full(np.asarray(Image.open(label)).shape, 255, np.uint8)).save(label)
    weights = random_weights(UNET, tmp_path / "w.pth")
    out = tmp_path / "m.json"
    proc = run_tool(
        "test.py",
        UNET,
        weights,
        "--work-dir",
        tmp_path / "w",
        "--metrics-json",
        out,
        "--cfg-options",
        f"test_dataloader.dataset.data_root={root}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(out.read_text())  # strict JSON: no NaN
    assert metrics["mIoU"] is None and "mIoU" in next(
        line for line in proc.stdout.splitlines() if "undefined (computed over no labelled pixel" in line
    )


# ----------------------------------------------------------------------------- config values

OVERRIDE_CASES = [  # (override, start of the message)
    ("train_cfg.max_iters=abc", "override train_cfg.max_iters='abc' for {file}: the config's value is a number"),
    ("train_dataloader.batch_size=-1", "override train_dataloader.batch_size=-1 for {file}: batch_size counts"),
    (
        "optim_wrapper.optimizer.lr=1e40",
        "override optim_wrapper.optimizer.lr=1e+40 for {file}: 1e+40 is not a finite float32 number",
    ),
    ("train_cfg.max_iters=2.5", "override train_cfg.max_iters=2.5 for {file}: the config's value is a whole number"),
    (
        "model.decode_head.num_classes=[6]",
        "override model.decode_head.num_classes=[6] for {file}: the config's value is a number",
    ),
]


@pytest.mark.parametrize("override,message", OVERRIDE_CASES, ids=[c[0] for c in OVERRIDE_CASES])
def test_override_values_are_checked_against_the_config(override, message):
    from segclassics.engine.config_loader import load_config

    with pytest.raises(UserError) as info:
        load_config(str(UNET), [override])
    assert str(info.value).startswith(message.format(file=UNET)), str(info.value)


def test_detectron2_override_values(tmp_path):
    from segclassics.engine.config_loader import load_config

    lazy = REPO / "configs/detectron2/unet_synthetic.py"
    with pytest.raises(UserError, match="override train.max_iter='abc' .* the config's value is a number"):
        load_config(str(lazy), ["train.max_iter=abc"])
    with pytest.raises(UserError, match="dataloader.train.total_batch_size=0 .*: total_batch_size counts"):
        load_config(str(lazy), ["dataloader.train.total_batch_size=0"])


LAZY_ERRORS = [
    ("NameError", "model = undefined_name\n"),
    ("ModuleNotFoundError", "from no_such_module import x\n"),
    ("ZeroDivisionError", "x = 1 / 0\n"),
]


@pytest.mark.parametrize("kind,body", LAZY_ERRORS, ids=[c[0] for c in LAZY_ERRORS])
def test_errors_inside_a_config_are_one_line(tmp_path, kind, body):
    from segclassics.engine.config_loader import load_config

    path = tmp_path / "bad.py"
    path.write_text("from detectron2.config import LazyCall as L\n" + body)
    with pytest.raises(UserError) as info:
        load_config(str(path))
    assert str(info.value).startswith(f"{path}:2: cannot load this detectron2 LazyConfig config: {kind}: ")


@pytest.mark.slow
@pytest.mark.parametrize(
    "config,opts,message",
    [
        (
            UNET,
            ["--cfg-options", "model.decode_head.num_classes=3"],
            "{config}: model.decode_head.num_classes is 3 but the training data (SyntheticShapesDataset) has 6 classes",
        ),
        (
            REPO / "configs/detectron2/unet_synthetic.yaml",
            ["MODEL.SEM_SEG_HEAD.NUM_CLASSES=3"],
            "{config}: MODEL.SEM_SEG_HEAD.NUM_CLASSES is 3 but the training data (synthetic_shapes_sem_seg_train) "
            "has 6 classes",
        ),
        (UNET, ["--cfg-options", "model.backbone.padding=valdi"], "{config}: PaperUNetEncoder: UNet padding must be"),
        (
            UNET,
            ["--cfg-options", "model.backbone.in_channels=1"],
            "{config}: model.backbone.in_channels is 1 but train_dataloader reads 3-channel images "
            "(LoadImageFromFile color_type='color'); set model.backbone.in_channels=3, or load the images with the "
            "channels the model takes",
        ),
        (
            REPO / "configs/detectron2/unet_synthetic.yaml",
            ["MODEL.PIXEL_MEAN=[0.5]", "MODEL.PIXEL_STD=[1.0]"],
            "{config}: MODEL.PIXEL_MEAN has 1 value (the backbone's input channels) but INPUT.FORMAT 'RGB' reads "
            "3-channel images; give 3 values in MODEL.PIXEL_MEAN and MODEL.PIXEL_STD, or set INPUT.FORMAT=L to read "
            "one-channel images",
        ),
    ],
    ids=[
        "mmseg class count",
        "detectron2 class count",
        "mmseg option value",
        "mmseg input channels",
        "detectron2 input channels",
    ],
)
def test_config_objects_are_checked_before_training(run_tool, tmp_path, config, opts, message):
    proc = run_tool("train.py", config, "--work-dir", tmp_path / "w", *opts)
    assert error_message(proc).startswith(message.format(config=config))


@PROPERTY
@given(
    color_type=st.sampled_from(["color", "grayscale", "unchanged", None]),
    mean_values=st.sampled_from([None, 1, 2, 3, 4]),
    std_values=st.integers(1, 4),
    in_channels=st.one_of(st.none(), st.integers(1, 4)),
)
def test_property_input_channels_are_refused_exactly_when_the_model_would_get_others(
    color_type, mean_values, std_values, in_channels
):
    """Reference: mmseg's own SegDataPreProcessor on an image of the loader's channels. The check
    refuses a config (one DataError naming the file) exactly when that image cannot be normalised
    or reaches the backbone with another channel count than its in_channels."""
    from mmengine.config import ConfigDict
    from mmseg.models.data_preprocessor import SegDataPreProcessor

    from segclassics.engine.data_check import check_mmengine_input_channels

    loader = (
        dict(type="LoadImageFromFile") if color_type is None else dict(type="LoadImageFromFile", color_type=color_type)
    )
    preprocessor = {} if mean_values is None else dict(mean=[0.5] * mean_values, std=[2.0] * std_values)
    backbone = {} if in_channels is None else dict(in_channels=in_channels)
    cfg = ConfigDict(
        model=dict(backbone=backbone, data_preprocessor=preprocessor),
        test_dataloader=dict(dataset=dict(type="D", pipeline=[loader])),
    )
    channels = {"color": 3, None: 3, "grayscale": 1}.get(color_type)
    if channels is None:  # 'unchanged': the file's channels, unknown before reading
        check_mmengine_input_channels(cfg, "c.py", ["test_dataloader"])
        return
    try:
        image = torch.zeros(channels, 4, 4, dtype=torch.uint8)
        reached = SegDataPreProcessor(**preprocessor)(dict(inputs=[image]))["inputs"].shape[1]
    except RuntimeError:  # the mean does not broadcast against the image
        reached = None
    expect_refusal = reached is None or (in_channels is not None and in_channels != reached)
    if expect_refusal:
        with pytest.raises(DataError) as err:
            check_mmengine_input_channels(cfg, "c.py", ["test_dataloader"])
        assert str(err.value).startswith("c.py: model.") and "\n" not in str(err.value)
    else:
        check_mmengine_input_channels(cfg, "c.py", ["test_dataloader"])


@PROPERTY
@given(
    lazy=st.booleans(),
    image_format=st.sampled_from(["RGB", "BGR", "L"]),
    mean_values=st.integers(1, 4),
    std_values=st.integers(1, 4),
)
def test_property_detectron2_input_channels_are_refused_exactly_when_the_model_would_get_others(
    lazy, image_format, mean_values, std_values
):
    """Reference: torch's broadcast of detectron2's ``(image - pixel_mean) / pixel_std`` (both
    ``view(-1, 1, 1)``) on an image of the format's channels; a yaml backbone is built with
    ``len(MODEL.PIXEL_MEAN)`` input channels. Refused (one DataError naming the file) exactly when
    the normalisation fails or, for yaml, gives another channel count."""
    from omegaconf import OmegaConf

    from segclassics.detectron2.run_checks import check_input_channels

    mean, std = [100.0] * mean_values, [50.0] * std_values
    if lazy:
        cfg = OmegaConf.create(
            dict(
                model=dict(pixel_mean=mean, pixel_std=std),
                dataloader=dict(test=dict(mapper=dict(image_format=image_format))),
            )
        )
    else:
        from detectron2.config import get_cfg

        cfg = get_cfg()
        cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD, cfg.INPUT.FORMAT = mean, std, image_format
    channels = 1 if image_format == "L" else 3
    try:
        normalised = (torch.zeros(channels, 2, 2) - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(
            -1, 1, 1
        )
        reached = normalised.shape[0]
    except RuntimeError:
        reached = None
    # detectron2 registers both as buffers of one shape (a mean and std of different lengths is refused too)
    expect_refusal = reached is None or mean_values != std_values or (not lazy and reached != mean_values)
    if expect_refusal:
        with pytest.raises(DataError) as err:
            check_input_channels(cfg, lazy, "c.py", ["test"])
        assert str(err.value).startswith("c.py: ") and "\n" not in str(err.value)
    else:
        check_input_channels(cfg, lazy, "c.py", ["test"])


def test_every_part_of_a_concatenated_training_set_is_counted():
    """A concatenation's parts each meet the head (mmengine's ConcatDataset trains them as one list
    of classes); the part that differs is named."""
    from mmengine.config import ConfigDict

    from segclassics.engine.data_check import check_mmengine_class_counts

    part = lambda name, n: dict(type=name, metainfo=dict(classes=[f"c{i}" for i in range(n)]))  # noqa: E731
    cfg = ConfigDict(
        default_scope="mmseg",
        model=dict(decode_head=dict(num_classes=6)),
        train_dataloader=dict(dataset=dict(type="ConcatDataset", datasets=[part("PartA", 6), part("PartB", 4)])),
    )
    with pytest.raises(
        UserError,
        match=r"^c\.py: model\.decode_head\.num_classes is 6 but the training data "
        r"\(PartB\) has 4 classes",
    ):
        check_mmengine_class_counts(cfg, "c.py")
    cfg.train_dataloader.dataset.datasets[1] = part("PartB", 6)
    check_mmengine_class_counts(cfg, "c.py")  # both parts agree with the head: no error


def test_every_detectron2_training_dataset_is_counted():
    from detectron2.config import get_cfg
    from detectron2.data import MetadataCatalog

    from segclassics.detectron2.run_checks import check_class_counts

    MetadataCatalog.get("count_part_a").set(stuff_classes=[f"c{i}" for i in range(6)])
    MetadataCatalog.get("count_part_b").set(stuff_classes=[f"c{i}" for i in range(4)])
    cfg = get_cfg()
    cfg.MODEL.META_ARCHITECTURE = "SemanticSegmentor"
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 6
    cfg.DATASETS.TRAIN = ("count_part_a", "count_part_b")
    with pytest.raises(
        UserError,
        match=r"^c\.yaml: MODEL\.SEM_SEG_HEAD\.NUM_CLASSES is 6 but the training "
        r"data \(count_part_b\) has 4 classes",
    ):
        check_class_counts(cfg, lazy=False, config="c.yaml")


@pytest.mark.parametrize("count,word", [(1, "class"), (2, "classes")])
def test_a_class_count_reads_as_english(count, word):
    from segclassics.datasets.class_counts import check_class_counts

    with pytest.raises(UserError) as raised:
        check_class_counts({"MODEL.ROI_HEADS.NUM_CLASSES": 3}, ["cell", "nucleus"][:count], "cells_train", "c.yaml")
    shown = ", ".join(["cell", "nucleus"][:count])
    assert str(raised.value) == (
        f"c.yaml: MODEL.ROI_HEADS.NUM_CLASSES is 3 but the training data (cells_train) has {count} {word} ({shown}); "
        f"set MODEL.ROI_HEADS.NUM_CLASSES={count}, or give the dataset the classes the model predicts"
    )


# ----------------------------------------------------------------------------- inputs that are not images


@pytest.fixture
def alarm():
    """Fail instead of hanging: a test that blocks for 60 s raises."""

    def hang(*_):
        raise TimeoutError("blocked for 60 s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_fifo_among_the_inputs_is_reported_not_read(tmp_path, capsys, alarm):
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(images / "a.png")
    os.mkfifo(images / "b.png")
    weights = random_weights(UNET, tmp_path / "w.pth")
    rc, out, err = run_infer(capsys, UNET, weights, images, "--out", tmp_path / "out", "--device", "cpu")
    assert rc == 3 and f"skipped: {images / 'b.png'}: is a FIFO (named pipe), not an image file" in err
    assert "summary: 1 done, 1 skipped" in out


def test_an_image_too_large_for_memory_is_skipped(tmp_path, capsys, monkeypatch):
    from segclassics.engine.backends import mmengine as inference  # the mmseg/mmdet predictor's home

    images = tmp_path / "images"
    images.mkdir()
    for name, size in (("a", 64), ("huge", 96), ("c", 64)):
        Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(images / f"{name}.png")
    real = inference.MMEnginePredictor.predict

    def predict(self, batch):
        if any(image.shape[0] == 96 for image in batch):
            raise RuntimeError(
                "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                "you tried to allocate 999999999999 bytes"
            )
        return real(self, batch)

    monkeypatch.setattr(inference.MMEnginePredictor, "predict", predict)
    weights = random_weights(UNET, tmp_path / "w.pth")
    rc, out, err = run_infer(capsys, UNET, weights, images, "--out", tmp_path / "out", "--batch", "3")
    assert rc == 3 and f"skipped: {images / 'huge.png'}: this 96x96 image needs more memory than is available" in err
    assert "summary: 2 done, 1 skipped" in out


DEVICE_CASES = [
    ("meta", "--device 'meta': not a device infer.py runs on; use cpu, cuda or cuda:N"),
    ("gpu", "--device 'gpu': not a device infer.py runs on; use cpu, cuda or cuda:N"),
]


@pytest.mark.parametrize("device,message", DEVICE_CASES, ids=[c[0] for c in DEVICE_CASES])
def test_unknown_device(device, message):
    from segclassics.engine.inference import resolve_device

    with pytest.raises(UserError) as info:
        resolve_device(device)
    assert str(info.value) == message


# ----------------------------------------------------------------------------- properties

_modes = st.sampled_from(["RGB", "L", "RGBA", "LA", "P", "I;16", "I", "F", "1", "CMYK"])


def _image(mode: str, width: int, height: int, seed: int):
    rng = np.random.default_rng(seed)
    if mode in ("I;16", "I", "F"):
        dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
        return Image.fromarray(rng.integers(0, 60000, (height, width)).astype(dtype))
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).convert(mode)


@pytest.mark.property
@PROPERTY
@given(
    mode=_modes,
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    orientation=st.integers(1, 8),
    fmt=st.sampled_from(["png", "jpg", "tiff", "webp"]),
    seed=st.integers(0, 1000),
)
@example(mode="L", width=1, height=2, orientation=5, fmt="tiff", seed=0)  # found by make fuzz: turned twice
def test_property_images_are_read_as_shown_or_refused(tmp_path, mode, width, height, orientation, fmt, seed):
    """Any image: infer.py reads it at its displayed size as 8-bit RGB, or refuses it in one line
    naming it; the per-sample check passes only an 8-bit image without a rotation."""
    from segclassics.datasets.image_input import ImageInputError, read_image

    image = _image(mode, width, height, seed)
    path = tmp_path / f"x.{fmt}"
    exif = Image.Exif()
    exif[0x0112] = orientation
    try:
        image.save(path, exif=exif.tobytes())
    except (OSError, ValueError, TypeError, KeyError):
        return  # a mode this format cannot store: nothing to read
    with Image.open(path) as stored:
        stored_mode, shown_orientation = stored.mode, stored.getexif().get(0x0112, 1)
    try:
        array = read_image(str(path), "RGB")
    except ImageInputError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
    else:
        turned = shown_orientation in (5, 6, 7, 8)
        assert array.dtype == np.uint8 and array.shape == ((width, height) if turned else (height, width)) + (3,)
    try:
        check_stored_image(str(path))
    except DataError as exc:
        assert str(exc).startswith(f"image {path} ") and "\n" not in str(exc)
    else:
        assert shown_orientation == 1 and not (stored_mode.startswith("I") or stored_mode == "F")


@pytest.mark.property
@PROPERTY
@given(
    values=st.lists(st.integers(0, 65535), min_size=4, max_size=4),
    sixteen=st.booleans(),
    num_classes=st.integers(1, 300),
)
def test_property_labels_are_checked_as_stored(tmp_path, values, sixteen, num_classes):
    """Any label file: mmseg's checked loader gives exactly the stored values, or one line naming
    the file; never a narrowed value (256 as 0)."""
    stored = np.asarray(values, np.uint16 if sixteen else np.uint8 if max(values) < 256 else np.uint16).reshape(2, 2)
    if not sixteen:
        stored = (stored % 256).astype(np.uint8)
    path = tmp_path / "label.png"
    Image.fromarray(stored).save(path)
    try:
        got = _mmseg_label(path, num_classes)
    except DataError as exc:
        assert str(exc).startswith(f"label {path} ") and "\n" not in str(exc)
        assert stored.max() > 255 or any(not (v < num_classes or v == 255) for v in stored.ravel())
    else:
        assert got.tolist() == stored.tolist()


_keys = st.sampled_from(
    [
        "train_cfg.max_iters",
        "train_dataloader.batch_size",
        "optim_wrapper.optimizer.lr",
        "model.decode_head.num_classes",
        "default_hooks.checkpoint.interval",
        "train_cfg.val_interval",
        "randomness.seed",
    ]
)
#: What the runner divides by or counts with: an applied value must be at least this (mmengine's
#: loops take val_interval modulo; a hook interval of 0 switches the hook off).
_AT_LEAST = {
    "train_cfg.max_iters": 1,
    "train_dataloader.batch_size": 1,
    "model.decode_head.num_classes": 1,
    "train_cfg.val_interval": 1,
    "default_hooks.checkpoint.interval": 0,
}
_texts = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.floats(allow_nan=True).map(repr),
    st.sampled_from(["abc", "True", "None", "[1, 2]", "1e40", "-1", "0", "2.5", "inf", "'x'"]),
)


@functools.lru_cache(maxsize=1)
def _unet_config():
    from segclassics.engine.config_loader import load_config

    return load_config(str(UNET)).cfg


@pytest.mark.property
@settings(PROPERTY, max_examples=min(settings.default.max_examples, 300))  # a config load each: bounded in fuzz too
@given(key=_keys, text=_texts)
def test_property_override_values(key, text):
    """Any value for a key the config has: applied with the config's kind of value, or one line
    naming the key and the file."""
    from segclassics.engine.config_loader import load_config

    original = _unet_config()
    try:
        loaded = load_config(str(UNET), [f"{key}={text}"]).cfg
    except UserError as exc:
        assert str(exc).startswith(f"override {key}=") and str(UNET) in str(exc) and "\n" not in str(exc)
        return
    before, after = original, loaded
    for part in key.split("."):
        before, after = before[part], after[part]
    if after is None:
        return  # None unsets an option, as in the frameworks' own configs
    assert isinstance(after, bool) == isinstance(before, bool)
    assert isinstance(after, (int, float)) == isinstance(before, (int, float))
    if isinstance(after, float):
        assert np.isfinite(after)
    if key in _AT_LEAST:
        assert after >= _AT_LEAST[key], (key, after)


@pytest.mark.parametrize(
    "config, override, leaf",
    [
        (str(UNET), "train_cfg.val_interval=0", "val_interval"),
        ("configs/detectron2/unet_synthetic.yaml", "SOLVER.CHECKPOINT_PERIOD=0", "CHECKPOINT_PERIOD"),
        ("configs/detectron2/unet_synthetic.py", "train.checkpointer.period=0", "period"),
        ("configs/detectron2/unet_synthetic.py", "train.log_period=0", "log_period"),
    ],
)
def test_a_period_the_loop_divides_by_must_be_positive(config, override, leaf):
    """0 is not "off" for these: mmengine's loop and fvcore's / detectron2's periodic hooks take the
    iteration modulo the value (a ZeroDivisionError after the first iteration)."""
    from segclassics.engine.config_loader import load_config

    with pytest.raises(UserError) as info:
        load_config(config, [override])
    key, value = override.split("=")
    assert str(info.value) == f"override {key}=0 for {config}: {leaf} counts something and must be at least 1"


@pytest.mark.parametrize(
    "config, override",
    [
        ("configs/detectron2/unet_synthetic.yaml", "TEST.EVAL_PERIOD=0"),
        ("configs/detectron2/unet_synthetic.py", "train.eval_period=0"),
        (str(UNET), "default_hooks.checkpoint.interval=0"),
    ],
)
def test_a_period_of_0_that_switches_off_is_accepted(config, override):
    from segclassics.engine.config_loader import load_config

    load_config(config, [override])


# ----------------------------------------------------------------------------- overrides that would do nothing

_MM_CONFIGS = (
    "configs/unet/unet_synthetic.py",
    "configs/unet/unet_valid-b16_isbi2012_572x572_cpu.py",
    "configs/segnet/segnet_basic_camvid_180x240_cpu.py",
    "configs/setr/setr_pup_vit-tiny_synthetic.py",
    "configs/mask_rcnn/mask-rcnn_r18_fpn_gn-scratch_isbi2012.py",
)


@functools.lru_cache(maxsize=None)
def _mm_config(path):
    from segclassics.engine.config_loader import load_config

    return load_config(path).cfg


def _scalar_leaves(node, prefix=""):
    items = node.items() if hasattr(node, "items") else enumerate(node) if isinstance(node, (list, tuple)) else ()
    for k, child in items:
        key = f"{prefix}.{k}".lstrip(".")
        if isinstance(child, (bool, int, float, str)):
            yield key, child
        else:
            yield from _scalar_leaves(child, key)


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    return value + "x"


def _read_part(cfg) -> dict:
    """What a run reads of a loaded config: the mmengine Runner's arguments and the keys read after loading."""
    import inspect

    from mmengine.runner import Runner

    from segclassics.engine.config_loader import EXTRA_MMENGINE_TOP_LEVEL_KEYS, READ_MMENGINE_TOP_LEVEL_KEYS

    read = set(inspect.signature(Runner.__init__).parameters) | EXTRA_MMENGINE_TOP_LEVEL_KEYS
    read |= READ_MMENGINE_TOP_LEVEL_KEYS
    return {k: cfg._cfg_dict.to_dict()[k] for k in cfg._cfg_dict if k in read}


@pytest.mark.property
@settings(PROPERTY, max_examples=min(settings.default.max_examples, 60))
@given(data=st.data())
def test_property_an_accepted_override_changes_what_the_run_reads(data):
    """Any scalar entry of a shipped mmengine config, overridden with another value of its kind: either
    the override changes what the run reads, or it is one line saying why (a variable of the file,
    which mmengine copied into the entries that use it, is never changed silently)."""
    from segclassics.engine.config_loader import load_config

    path = data.draw(st.sampled_from(_MM_CONFIGS))
    original = _mm_config(path)
    key, value = data.draw(st.sampled_from(sorted(_scalar_leaves(original._cfg_dict.to_dict()))))
    override = f"{key}={_changed(value)!r}"
    try:
        loaded = load_config(path, [override]).cfg
    except UserError as exc:
        assert str(exc).startswith(f"override {key}=") or str(exc).startswith("unknown config key"), str(exc)
        assert "\n" not in str(exc)
        return
    assert _read_part(loaded) != _read_part(original), f"{override} was accepted and changed nothing a run reads"


def test_an_override_of_a_variable_names_the_entries_that_use_it():
    from segclassics.engine.config_loader import load_config

    config = "configs/unet/unet_valid-b16_isbi2012_572x572_cpu.py"
    with pytest.raises(UserError) as info:
        load_config(config, ["max_iters=100"])
    assert str(info.value) == (
        f"override max_iters=100 for {config}: 'max_iters' is a variable of the config file, which mmengine "
        f"copied into the entries that use it when it read the file, so changing it now would change nothing "
        f"the run uses; override those entries instead; the entries that hold its value now: "
        f"param_scheduler.1.end, train_cfg.max_iters"
    )
    load_config(config, ["train_cfg.max_iters=100", "param_scheduler.1.end=100"])  # what the line says works
