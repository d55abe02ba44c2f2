"""Every error segclassics raises for bad user input subclasses ``segclassics.errors.UserError``,
and the one-line reporting turns exactly that family into ``error: ...`` (exit 2): any other
exception, a plain ``FileNotFoundError`` from a bug included, keeps its traceback."""

from __future__ import annotations

import ast
import contextlib
import importlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import REPO
from segclassics.errors import MissingFileError, UserError
from segclassics.utils.reporting import interrupted_message, run_reporting_user_errors, user_facing_message

PACKAGE = REPO / "plugins" / "segclassics"

#: Exception classes that are not the user's to fix (they report a failure of a library the
#: software drives), with the reason.
NOT_USER_ERRORS = {
    "segclassics.deploy.export.ExportFailedError": "torch.export could not trace a shipped model",
}


def _error_classes() -> list[str]:
    """``module.Class`` for every class in the package whose name ends in ``Error``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                found.append(f"{module}.{node.name}")
    return found


def test_the_package_defines_error_classes_that_the_scan_finds():
    # the scan itself: these are known to exist, so an empty or broken scan fails here
    names = _error_classes()
    for expected in (
        "segclassics.datasets.paths.DatasetNotFoundError",
        "segclassics.utils.reader.UnsafeCheckpointError",
        "segclassics.utils.checkpoint.CheckpointMismatchError",
        "segclassics.errors.UserError",
    ):
        assert expected in names


def test_every_error_class_is_a_user_error():
    outside = []
    for name in _error_classes():
        module, cls = name.rsplit(".", 1)
        if name in NOT_USER_ERRORS:
            continue
        if not issubclass(getattr(importlib.import_module(module), cls), UserError):
            outside.append(name)
    assert not outside, f"these errors do not subclass segclassics.errors.UserError: {outside}"


@pytest.mark.parametrize(
    "name, builtin",
    [
        ("segclassics.datasets.paths.DatasetNotFoundError", FileNotFoundError),
        ("segclassics.utils.reader.UnsafeCheckpointError", RuntimeError),
        ("segclassics.utils.checkpoint.CheckpointMismatchError", RuntimeError),
        ("segclassics.utils.override_values.OverrideValueError", ValueError),
        ("segclassics.datasets.sample_checks.DataError", ValueError),
        ("segclassics.datasets.synthetic.SyntheticSizeError", ValueError),
        ("segclassics.datasets.synthetic.DataRootTakenError", FileExistsError),
    ],
)
def test_user_errors_keep_their_builtin_base(name, builtin):
    module, cls = name.rsplit(".", 1)
    assert issubclass(getattr(importlib.import_module(module), cls), builtin)


def test_a_missing_file_named_by_the_user_is_one_line(capsys):
    def run():
        raise MissingFileError("checkpoint not found: 'w.pth'")

    assert run_reporting_user_errors(run) == 2
    assert capsys.readouterr().err == "error: checkpoint not found: 'w.pth'\n"


def _label_folder(root, values):
    import numpy as np
    from PIL import Image

    root.mkdir()
    Image.fromarray(np.array(values, dtype=np.uint8)).save(root / "0.png")
    return root


@pytest.mark.parametrize(
    "tool, argv, expected",
    [
        (
            "segclassics.tools.analysis.class_weights",
            lambda d: [str(d / "absent"), "--num-classes", "3"],
            lambda d: f"label folder not found: {str(d / 'absent')!r}",
        ),
        (
            "segclassics.tools.analysis.class_weights",
            lambda d: [str(_label_folder(d / "labels", [[0, 7]])), "--num-classes", "3"],
            lambda d: (
                f"label values [7] in {str(d / 'labels' / '0.png')} are outside 0..2 and are not the ignore index 255"
            ),
        ),
        (
            "segclassics.tools.analysis.class_weights",
            lambda d: [str(_label_folder(d / "labels", [[0, 1]])), "--num-classes", "3"],
            lambda d: (
                "classes [2] have no pixel in the training labels: median frequency balancing needs every class "
                "to occur (drop the class or set its weight by hand)"
            ),
        ),
        (
            "segclassics.tools.dataset_converters.make_synthetic",
            lambda d: [str(d / "s"), "--size", "8", "8"],
            lambda d: "size must be (H, W) with H, W >= 16, got (8, 8)",
        ),
        (
            "segclassics.tools.dataset_converters.make_synthetic",
            lambda d: [str(_label_folder(d / "mine", [[0]]))],
            lambda d: (
                f"{str(d / 'mine')!r} exists and is not a segclassics synthetic dataset (no readable meta.json); "
                "refusing to overwrite it. Choose another data_root or remove the folder."
            ),
        ),
        (
            "segclassics.tools.dataset_converters.camvid",
            lambda d: [str(d), str(d / "out"), "--splits", "test"],
            lambda d: (
                f"CamVid split file not found: {str(d / 'test.txt')!r} (expected one image name per line, "
                "or the SegNet tutorial's train.txt/val.txt/test.txt)"
            ),
        ),
    ],
    ids=[
        "class_weights-no-folder",
        "class_weights-bad-value",
        "class_weights-absent-class",
        "synthetic-size",
        "synthetic-foreign-folder",
        "camvid-no-split",
    ],
)
def test_small_tools_report_input_errors_as_the_reporter_does(tool, argv, expected, tmp_path, capsys):
    """The converters and class_weights raise the error family; their entry points (tools/ and
    ``python -m``) report it as one line, exit 2, like every other tool."""
    main = importlib.import_module(tool).main
    assert run_reporting_user_errors(lambda: main(argv(tmp_path))) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {expected(tmp_path)}\n"


def test_a_plain_file_not_found_error_is_a_bug_with_its_traceback():
    def run():
        open("/nonexistent/segclassics/internal.file")  # noqa: SIM115 - a bug's own missing file

    assert user_facing_message(FileNotFoundError(2, "No such file or directory")) is None
    with pytest.raises(FileNotFoundError):
        run_reporting_user_errors(run)


def test_an_error_raised_while_handling_ctrl_c_is_the_interruption(capsys, monkeypatch):
    # Ctrl-C inside torch.save: its zip writer then fails on the half-written file with a
    # RuntimeError whose context is the KeyboardInterrupt
    from segclassics.utils import reporting as errors

    monkeypatch.setattr(errors, "interrupted_message", lambda: "interrupted (Ctrl-C); this run wrote no checkpoint")

    def run():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            # as torch raises it: while handling the interrupt, whose __context__ the reporting reads
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 2441280 vs 2441168")  # noqa: B904

    assert run_reporting_user_errors(run) == errors.EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err == "interrupted (Ctrl-C); this run wrote no checkpoint\n"
    with pytest.raises(RuntimeError, match="unexpected pos"):  # --debug: the traceback
        run_reporting_user_errors(run, debug=True)


class _RecordingStream:
    """A stderr stand-in that keeps each ``write`` call apart."""

    def __init__(self):
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.property
@given(message=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r")))
def test_each_reported_line_is_one_write(message):
    # the processes of a distributed run share one stderr: a line written as text, then newline
    # (print's two writes, unbuffered under torchrun) interleaves with another process's line
    def user_error():
        raise UserError(message)

    def ctrl_c():
        raise KeyboardInterrupt

    stream = _RecordingStream()
    with contextlib.redirect_stderr(stream):
        assert run_reporting_user_errors(user_error) == 2
        assert run_reporting_user_errors(ctrl_c) == 130
    assert stream.writes == [f"error: {message}\n", f"{interrupted_message()}\n"]
