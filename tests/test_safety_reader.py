"""The one reader (segclassics.utils.reader): nothing we load, by path, URL or scheme name, can run
code; plain data loads in every pickle protocol and under both numpy generations' names.

Case tables first (each row a case a user met), then the properties, over generated pickles and
yaml documents: nothing executes, plain data comes back equal, a refusal is one line naming the
file.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import pickle
import re
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.utils.model_zoo
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import REPO, data_root_overrides
from pickles import Call, RunsCode, dumps, torch_save
from segclassics.errors import UserError
from segclassics.utils.reader import (
    InvalidYamlError,
    UnsafeCheckpointError,
    UnsafeConfigError,
    read_checkpoint,
    read_yaml,
)


@contextlib.contextmanager
def serving(folder: Path):
    """An HTTP server on 127.0.0.1 serving ``folder`` (the tests need no network)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def web(tmp_path, monkeypatch):
    """(url of a served folder, the folder); torch hub's cache in tmp_path."""
    served = tmp_path / "served"
    served.mkdir()
    hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        with serving(served) as url:
            yield url, served
    finally:
        torch.hub.set_dir(hub)


def evil_pth(path: Path, marker: Path) -> Path:
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": {"x": RunsCode(marker)}}, path)
    return path


def plain_pth(path: Path) -> Path:
    torch.save({"state_dict": {"w": torch.arange(3.0)}, "meta": {}}, path)
    return path


def one_line_refusal(exc: BaseException, name: str) -> None:
    text = str(exc)
    assert "\n" not in text and text.startswith(f"{name}: refused to load:"), text


# ----------------------------------------------------------------------------- plain pickles load

ARRAY = np.arange(12, dtype=np.float32).reshape(3, 4)
PLAIN_PKL_CASES = [  # (protocol, numpy 2 names): detectron2 .pkl files as they are written today
    (5, False),  # protocol 5: numpy.core.numeric._frombuffer
    (2, False),  # protocol 2 from Python 3: bytes as _codecs.encode(..., 'latin1')
    (4, True),  # numpy >= 2: numpy._core.multiarray._reconstruct
    (5, True),  # numpy >= 2, protocol 5: numpy._core.numeric._frombuffer
    (2, True),
    (0, False),
]


@pytest.mark.parametrize("protocol,numpy2", PLAIN_PKL_CASES)
def test_plain_array_pickles_load(tmp_path, protocol, numpy2):
    path = tmp_path / "zoo.pkl"
    path.write_bytes(dumps({"model": {"w": ARRAY, "n": np.int64(3)}, "__author__": "zoo"}, protocol, numpy2))
    got = read_checkpoint(str(path))
    assert np.array_equal(got["model"]["w"], ARRAY) and got["model"]["w"].dtype == np.float32
    assert got["model"]["n"] == 3 and got["__author__"] == "zoo"


def test_numpy2_arrays_inside_a_pth_load(tmp_path):
    """An mmengine checkpoint written under numpy >= 2 (message hub arrays as numpy._core...)."""
    path = tmp_path / "iter_2.pth"
    torch_save(
        {"state_dict": {"w": torch.ones(2)}, "message_hub": {"loss": ARRAY, "it": np.float64(0.5)}}, path, numpy2=True
    )
    assert b"numpy._core.multiarray" in _zip_pickle(path)
    got = read_checkpoint(str(path))
    assert np.array_equal(got["message_hub"]["loss"], ARRAY) and got["message_hub"]["it"] == 0.5


def _zip_pickle(path: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))


def test_protocol2_codecs_encode_takes_only_latin1(tmp_path):
    """``_codecs.encode`` is allowed as what protocol 2 makes of bytes; another codec is refused."""
    path = tmp_path / "rot.pkl"
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(UnsafeCheckpointError, match=re.escape("asks to run _codecs.encode(..., 'rot13')")):
        read_checkpoint(str(path))


# ----------------------------------------------------------------------------- names and URLs


def _mm_load(name):
    from mmengine.runner.checkpoint import CheckpointLoader

    import segclassics.openmmlab  # noqa: F401  (our loaders for every scheme)

    return CheckpointLoader.load_checkpoint(name, map_location="cpu")


def _pretrained_init(name):
    """``init_cfg=dict(type='Pretrained', checkpoint=NAME)``, as a config's backbone has it."""
    from mmengine.model.weight_init import PretrainedInit

    import segclassics.openmmlab  # noqa: F401

    model = torch.nn.Linear(1, 1)
    PretrainedInit(checkpoint=name)(model)
    return model


def _d2_load(name):
    import segclassics.detectron2  # noqa: F401
    from segclassics.detectron2.checkpointer import SafeDetectionCheckpointer

    return SafeDetectionCheckpointer(torch.nn.Linear(1, 1)).load(name)


def _hub_load(how, url):
    """torch hub's URL loading as a user's config or torchvision calls it (``weights_only``
    left at torch hub's default, False), once our adapters are imported."""
    import segclassics.detectron2  # noqa: F401
    import segclassics.openmmlab  # noqa: F401

    if how == "hub":
        return torch.hub.load_state_dict_from_url(url)
    if how == "model_zoo":
        return torch.utils.model_zoo.load_url(url)
    from torchvision.models._api import Weights, WeightsEnum

    served = WeightsEnum("ServedWeights", {"DEFAULT": Weights(url=url, transforms=None, meta={})})
    return served.DEFAULT.get_state_dict()  # what torchvision's builders call for weights=...


def _tables(monkeypatch, url):
    """mmengine's name tables pointing at the test server (its real ones point at the internet)."""
    from mmengine.runner import checkpoint as mm

    monkeypatch.setattr(mm, "get_external_models", lambda: {"resnet50_v1c": f"{url}/model.pth"})
    monkeypatch.setattr(mm, "get_torchvision_models", lambda: {"vgg16": f"{url}/model.pth"})
    monkeypatch.setattr(mm, "get_mmcls_models", lambda: {"resnet50": f"{url}/model.pth"})


NAMED_CASES = [  # (how the name is given, the name; {url} is the test server)
    ("mmengine load_from", "{url}/model.pth", _mm_load),
    ("mmengine init_cfg Pretrained", "{url}/model.pth", _pretrained_init),
    ("mmengine open-mmlab://", "open-mmlab://resnet50_v1c", _mm_load),
    ("mmengine openmmlab://", "openmmlab://resnet50_v1c", _mm_load),
    ("mmengine torchvision://", "torchvision://vgg16", _mm_load),
    ("mmengine modelzoo://", "modelzoo://vgg16", _mm_load),
    ("mmengine mmcls://", "mmcls://resnet50", _mm_load),
    ("reader URL", "{url}/model.pth", lambda name: read_checkpoint(name)),
    ("detectron2 checkpointer URL", "{url}/model.pth", _d2_load),
    ("torch.hub.load_state_dict_from_url", "{url}/model.pth", lambda name: _hub_load("hub", name)),
    ("torch.utils.model_zoo.load_url", "{url}/model.pth", lambda name: _hub_load("model_zoo", name)),
    ("torchvision WeightsEnum.get_state_dict", "{url}/model.pth", lambda name: _hub_load("torchvision", name)),
]


@pytest.mark.parametrize("how,name,load", NAMED_CASES, ids=[c[0] for c in NAMED_CASES])
def test_named_checkpoints_that_run_code_are_refused(web, tmp_path, monkeypatch, how, name, load):
    url, served = web
    _tables(monkeypatch, url)
    marker = tmp_path / "ran"
    evil_pth(served / "model.pth", marker)
    with pytest.raises(UnsafeCheckpointError) as info:
        load(name.format(url=url))
    assert "asks to run posix.system" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


PLAIN_NAMED = [c for c in NAMED_CASES if "mmcls" not in c[0] and "detectron2" not in c[0]]  # mmcls renames keys


@pytest.mark.parametrize("how,name,load", PLAIN_NAMED, ids=[c[0] for c in PLAIN_NAMED])
def test_named_plain_checkpoints_load(web, monkeypatch, how, name, load):
    url, served = web
    torch.save({"state_dict": {"weight": torch.full((1, 1), 2.0), "bias": torch.zeros(1)}}, served / "model.pth")
    _tables(monkeypatch, url)
    got = load(name.format(url=url))
    weight = got.weight if isinstance(got, torch.nn.Module) else got["state_dict"]["weight"]
    assert torch.equal(weight, torch.full((1, 1), 2.0))


@pytest.mark.parametrize("suffix", [".pkl", ".pth"])
def test_detectron2s_own_checkpointer_reads_through_the_reader(tmp_path, suffix):
    """``DefaultPredictor`` and ``DefaultTrainer`` use detectron2's own ``DetectionCheckpointer``,
    which unpickles ``.pkl`` files with ``pickle.load``; with segclassics.detectron2 imported it
    reads every file through the reader."""
    from detectron2.checkpoint import DetectionCheckpointer

    import segclassics.detectron2  # noqa: F401

    marker = tmp_path / "ran"
    path = tmp_path / f"model{suffix}"
    evil = {"model": {"weight": np.zeros((1, 1), np.float32)}, "__author__": "x", "y": RunsCode(marker)}
    if suffix == ".pkl":
        path.write_bytes(pickle.dumps(evil))
    else:
        torch.save(evil, path)
    with pytest.raises(UnsafeCheckpointError, match="asks to run posix.system"):
        DetectionCheckpointer(torch.nn.Linear(1, 1)).load(str(path))
    assert not marker.exists()
    path.write_bytes(
        dumps(
            {"model": {"weight": np.full((1, 1), 3, np.float32), "bias": np.zeros(1, np.float32)}, "__author__": "zoo"},
            protocol=5,
        )
    ) if suffix == ".pkl" else torch.save({"model": {"weight": torch.full((1, 1), 3.0), "bias": torch.zeros(1)}}, path)
    model = torch.nn.Linear(1, 1)
    DetectionCheckpointer(model).load(str(path))
    assert model.weight.item() == 3


def test_a_scheme_registered_by_someone_else_is_refused(tmp_path):
    from mmengine.runner.checkpoint import CheckpointLoader

    import segclassics.openmmlab  # noqa: F401
    from segclassics.openmmlab.checkpoint_loading import check_every_scheme_is_ours, use_checked_loaders

    CheckpointLoader.register_scheme(prefixes="unsafe://", loader=lambda f, m=None: pickle.loads(b""), force=True)
    try:
        check_every_scheme_is_ours()
        with pytest.raises(UnsafeCheckpointError, match="no checked reader for this checkpoint name's scheme"):
            CheckpointLoader.load_checkpoint("unsafe://x")
    finally:
        CheckpointLoader._schemes.pop("unsafe://", None)
        use_checked_loaders()


# ----------------------------------------------------------------------------- yaml

TAGS = [
    '!!python/object/apply:os.system ["touch {marker}"]',
    '!!python/object/new:os.system ["touch {marker}"]',
    "!!python/name:os.system",
    "!!python/module:os",
]


def _d2_yaml(path):
    from segclassics.engine.config_loader import load_config

    return load_config(str(path))


def _lazy_yaml(path):
    from detectron2.config import LazyConfig

    import segclassics.detectron2  # noqa: F401

    return LazyConfig.load(str(path))


def _mm_yaml(path):
    from segclassics.engine.config_loader import load_config

    return load_config(str(path))


def _mmengine_load(path):
    import mmengine

    import segclassics.openmmlab  # noqa: F401

    return mmengine.load(str(path))


def _fvcore(path):
    from detectron2.config import get_cfg

    import segclassics.detectron2  # noqa: F401

    get_cfg().merge_from_file(str(path))  # detectron2's default is allow_unsafe=True


YAML_CASES = [  # (how it is loaded, file name, text; {tag} is a python tag)
    ("detectron2 yaml config", "evil.yaml", "MODEL:\n  DEVICE: {tag}\n", _d2_yaml),
    ("detectron2 get_cfg().merge_from_file", "evil.yaml", "MODEL:\n  DEVICE: {tag}\n", _fvcore),
    ("detectron2 yaml _BASE_", "child.yaml", "_BASE_: base.yaml\nMODEL:\n  DEVICE: cpu\n", _d2_yaml),
    ("detectron2 LazyConfig yaml", "config.yaml", "model:\n  _target_: {tag}\n", _lazy_yaml),
    ("mmengine yaml config", "evil.yaml", "default_scope: mmseg\nmodel:\n  type: {tag}\n", _mm_yaml),
    ("mmengine.load yaml", "evil.yaml", "a: {tag}\n", _mmengine_load),
    ("reader", "evil.yaml", "a: {tag}\n", read_yaml),
]


@pytest.mark.parametrize("tag", TAGS, ids=["apply", "new", "name", "module"])
@pytest.mark.parametrize("how,name,text,load", YAML_CASES, ids=[c[0] for c in YAML_CASES])
def test_yaml_python_tags_are_refused(tmp_path, how, name, text, load, tag):
    marker = tmp_path / "ran"
    tag = tag.format(marker=marker)
    path = tmp_path / name
    path.write_text(text.format(tag=tag))
    culprit = path
    if name == "child.yaml":
        culprit = tmp_path / "base.yaml"
        culprit.write_text(f"MODEL:\n  META_ARCHITECTURE: {tag}\n")
    with pytest.raises(UnsafeConfigError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message and "refused to load: the yaml asks to construct !!python/" in message, message
    if how != "mmengine.load yaml" and how != "mmengine yaml config":  # mmengine reads a temporary copy
        assert message.startswith(f"{culprit}:"), message
    assert not marker.exists()


def test_mmengine_pickle_files_are_read_as_plain_data(tmp_path):
    import mmengine

    import segclassics.openmmlab  # noqa: F401

    good, evil, marker = tmp_path / "ann.pkl", tmp_path / "evil.pkl", tmp_path / "ran"
    good.write_bytes(pickle.dumps({"boxes": ARRAY}))
    evil.write_bytes(pickle.dumps({"boxes": RunsCode(marker)}))
    assert np.array_equal(mmengine.load(str(good))["boxes"], ARRAY)
    with pytest.raises(UnsafeCheckpointError, match="refused to load"):
        mmengine.load(str(evil))
    assert not marker.exists()


# ----------------------------------------------------------------------------- through the tools


@pytest.mark.slow
def test_train_refuses_load_from_a_url_that_runs_code(run_tool, tmp_path, synthetic_root):
    from helpers import error_message

    marker = tmp_path / "ran"
    served = tmp_path / "served"
    served.mkdir()
    evil_pth(served / "model.pth", marker)
    with serving(served) as url:
        proc = run_tool(
            "train.py",
            REPO / "configs/unet/unet_synthetic.py",
            "--work-dir",
            tmp_path / "w",
            "--cfg-options",
            f"load_from={url}/model.pth",
            *data_root_overrides(synthetic_root, ("train", "val")),
            "train_cfg.max_iters=1",
            env={"TORCH_HOME": str(tmp_path / "torch")},
        )
    message = error_message(proc)
    assert message.startswith(f"{url}/model.pth: refused to load: the file asks to run posix.system"), message
    assert not marker.exists()


@pytest.mark.slow
def test_detectron2_weights_at_an_address_are_refused_or_named_in_one_line(run_tool, tmp_path, synthetic_root):
    """MODEL.WEIGHTS as an address, fetched by detectron2's own PathManager: a pickle that would
    run code is refused like a local one; an address that cannot be fetched (HTTP 404 here) is one
    line naming it, not urllib's traceback."""
    from helpers import error_message

    marker = tmp_path / "ran"
    served = tmp_path / "served"
    served.mkdir()
    (served / "evil.pkl").write_bytes(dumps({"model": {"w": Call("posix", "system", f"touch {marker}")}}))
    messages = []
    with serving(served) as url:
        for weights in (f"{url}/evil.pkl", f"{url}/missing.pkl"):
            proc = run_tool(
                "train.py",
                REPO / "configs/detectron2/unet_synthetic.yaml",
                "--work-dir",
                tmp_path / "w",
                f"MODEL.WEIGHTS={weights}",
                "SOLVER.MAX_ITER=1",
                env={"SEGCLASSICS_SYNTHETIC_ROOT": str(synthetic_root), "FVCORE_CACHE": str(tmp_path / "cache")},
            )
            assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
            messages.append(error_message(proc))
    assert messages[0].startswith(f"{url}/evil.pkl: refused to load: the file asks to run posix.system"), messages[0]
    assert messages[1] == (
        f"{url}/missing.pkl: cannot download it (HTTPError: HTTP Error 404: File not found); check the "
        f"address, or download it yourself and give the local file"
    ), messages[1]
    assert not marker.exists()


@pytest.mark.slow
def test_test_py_refuses_a_yaml_config_that_runs_code(run_tool, tmp_path):
    from helpers import error_message

    marker = tmp_path / "ran"
    config = tmp_path / "config.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        _BASE_: {REPO}/configs/detectron2/unet_synthetic.yaml
        MODEL:
          DEVICE: !!python/object/apply:os.system ["touch {marker}"]
        """)
    )
    proc = run_tool("test.py", config, tmp_path / "none.pth")
    assert error_message(proc).startswith(
        f"{config}:3: refused to load: the yaml asks to construct !!python/object/apply:os.system"
    )
    assert not marker.exists()


# ----------------------------------------------------------------------------- properties

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=8),
)
_arrays = hnp.arrays(
    st.sampled_from(["<f4", "<f8", "<i8", "u1", "<i4", "?", "<f2"]),
    hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
)


def _plain(leaves):
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.text(max_size=6), inner, max_size=4),
            st.tuples(inner, inner),
        ),
        max_leaves=12,
    )


def _equal(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b and type(a) is type(b)


#: the examples' count and seed come from the profile (tests/conftest.py: fixed in the suite, random in make fuzz)
PROPERTY = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.property
@PROPERTY
@given(data=_plain(st.one_of(_scalars, _arrays)), protocol=st.integers(0, 5), numpy2=st.booleans())
def test_property_plain_pickles_come_back_equal(tmp_path, data, protocol, numpy2):
    path = tmp_path / "x.pkl"
    path.write_bytes(dumps({"model": data}, protocol, numpy2))
    assert _equal(read_checkpoint(str(path))["model"], data)


#: globals a pickle may ask for to run code or reach objects; any of them anywhere is refused
DANGEROUS = [
    ("os", "system"),
    ("posix", "system"),
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("builtins", "getattr"),
    ("builtins", "__import__"),
    ("subprocess", "Popen"),
    ("shutil", "rmtree"),
    ("numpy", "load"),
    ("numpy.testing._private.utils", "runstring"),
    ("torch", "load"),
    ("collections", "namedtuple"),
    ("_codecs", "decode"),
    ("io", "open"),
]


@pytest.mark.property
@PROPERTY
@given(
    data=_plain(st.one_of(_scalars, _arrays)),
    target=st.sampled_from(DANGEROUS),
    suffix=st.sampled_from([".pkl", ".pth"]),
)
def test_property_a_pickle_that_asks_for_code_is_refused(tmp_path, data, target, suffix):
    marker = tmp_path / "ran"
    path = tmp_path / f"evil{suffix}"
    evil = {"model": data, "x": Call(*target, f"touch {marker}")}
    if suffix == ".pkl":
        path.write_bytes(dumps(evil, protocol=2))
    else:
        torch_save(evil, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        read_checkpoint(str(path))
    one_line_refusal(info.value, str(path))
    assert not marker.exists()


@pytest.mark.property
@PROPERTY
@given(blob=st.binary(max_size=256), suffix=st.sampled_from([".pkl", ".pth"]))
def test_property_any_bytes_load_as_plain_data_or_one_line(tmp_path, blob, suffix):
    """Random bytes: plain data, or one line naming the file; never another exception."""
    path = tmp_path / f"x{suffix}"
    path.write_bytes(blob)
    try:
        read_checkpoint(str(path))
    except UnsafeCheckpointError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)


_yaml_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


@pytest.mark.property
@PROPERTY
@given(data=st.dictionaries(st.text(min_size=1, max_size=6), _plain(_yaml_leaves), max_size=5))
def test_property_plain_yaml_comes_back_equal(tmp_path, data):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    got = read_yaml(str(path))
    assert got == yaml.safe_load(yaml.safe_dump(data))  # tuples become lists, as any yaml reader does


@pytest.mark.property
@PROPERTY
@given(
    data=st.dictionaries(
        st.text(alphabet="abcdefgh", min_size=1, max_size=6), _plain(_yaml_leaves), min_size=1, max_size=5
    ),
    tag=st.sampled_from(TAGS),
    depth=st.integers(0, 3),
    loader=st.sampled_from(["reader", "fvcore", "mmengine"]),
)
def test_property_a_python_tag_anywhere_is_refused(tmp_path, data, tag, depth, loader):
    marker = tmp_path / "ran"
    nested = "x"
    for level in range(depth):
        nested = f"{{k{level}: [{nested}]}}"
    doc = yaml.safe_dump(data) + "evil: " + nested.replace("x", tag.format(marker=marker) + " ") + "\n"
    path = tmp_path / "c.yaml"
    path.write_text(doc)
    load = {"reader": read_yaml, "fvcore": _fvcore_base, "mmengine": _mmengine_load}[loader]
    with pytest.raises(UnsafeConfigError) as info:
        load(path)
    assert "\n" not in str(info.value) and "refused to load" in str(info.value)
    assert not marker.exists()


@pytest.mark.property
@PROPERTY
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.text(alphabet=":-[]{},'\"&*!|>#%@` \n\tabc01", max_size=60),  # yaml's own syntax characters
    ),
    loader=st.sampled_from(["reader", "fvcore"]),
)
def test_property_any_text_is_data_or_one_line_naming_the_file(tmp_path, text, loader):
    """Any text given as a yaml config: plain data, or one error of the family (not valid YAML, a
    python tag, ...) whose one line starts with the file's path -- never yaml's own exception."""
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    load = {"reader": read_yaml, "fvcore": _fvcore_base}[loader]
    try:
        load(path)
    except UserError as exc:
        assert str(exc).startswith(f"{path}") and "\n" not in str(exc), str(exc)
    except (KeyError, TypeError, AttributeError) as exc:  # fvcore: a document that is not a mapping of keys
        assert loader == "fvcore", exc


def test_invalid_yaml_names_file_line_and_problem(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: 1\nb: [2\nc: 3\n")
    with pytest.raises(InvalidYamlError) as info:
        read_yaml(str(path))
    assert str(info.value) == f"{path}:3: not valid YAML: did not find expected ',' or ']'"
    path.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(InvalidYamlError) as info:
        read_yaml(str(path))
    assert str(info.value) == f"{path}: not valid YAML: not UTF-8 text (invalid start byte at byte 3)"
    path.write_text("? [1, 2]\n: 3\n")  # a list as a key: yaml's constructor, not a python tag
    with pytest.raises(InvalidYamlError) as info:
        read_yaml(str(path))
    assert str(info.value) == f"{path}:1: not valid YAML: found unhashable key"


def _fvcore_base(path):
    from fvcore.common.config import CfgNode

    import segclassics.detectron2  # noqa: F401

    return CfgNode.load_yaml_with_base(str(path), allow_unsafe=True)


# ----------------------------------------------------------------------------- yaml alias bombs

YAML_LOADERS = {
    "reader": read_yaml,
    "fvcore": _fvcore_base,
    "mmengine": _mmengine_load,
    "detectron2 config": _d2_yaml,
    "LazyConfig": _lazy_yaml,
}


def _alias_bomb(width: int, depth: int) -> str:
    """A yaml document whose level k repeats level k-1 ``width`` times by alias: it expands to
    about width**depth values while its text grows only as width*depth."""
    lines = ["a0: &a0 [x]"]
    for level in range(1, depth + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def _expanded_values(width: int, depth: int) -> int:
    """Values of :func:`_alias_bomb` with every alias expanded (each list and each scalar is one
    value; each top-level key and value too)."""
    sizes = [2]  # a0: the list and its one scalar
    for _ in range(depth):
        sizes.append(1 + width * sizes[-1])
    return 1 + depth + 1 + sum(sizes)  # the mapping, its keys, its values


def test_alias_expansion_count_by_hand():
    from segclassics.utils.reader import check_yaml_size

    assert _expanded_values(2, 1) == 1 + 2 + 2 + 5  # {a0: [x], a1: [[x], [x]]}
    assert check_yaml_size(yaml.safe_load(_alias_bomb(2, 1))) is not None


@pytest.mark.property
@PROPERTY
@given(width=st.integers(2, 10), depth=st.integers(1, 12), loader=st.sampled_from(sorted(YAML_LOADERS)))
def test_property_alias_bombs_are_refused_and_small_aliases_load(tmp_path, width, depth, loader):
    from segclassics.utils.reader import YAML_EXPANDED_VALUES_LIMIT

    path = tmp_path / "c.yaml"
    path.write_text(_alias_bomb(width, depth))
    if _expanded_values(width, depth) > YAML_EXPANDED_VALUES_LIMIT:
        with pytest.raises(UnsafeConfigError) as info:
            YAML_LOADERS[loader](path)
        message = str(info.value)
        assert "\n" not in message and "refused to load: its aliases expand to more than 1,000,000 values" in message
        if loader not in ("mmengine",):  # mmengine.load reads an open file; the others name the path
            assert message.startswith(f"{path}:"), message
    elif loader == "reader":
        assert read_yaml(str(path)) == yaml.safe_load(path.read_text())


def test_a_recursive_yaml_document_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(
        UnsafeConfigError,
        match=r"c\.yaml: refused to load: an alias refers to a mapping or "
        r"list that contains it",
    ):
        read_yaml(str(path))
