"""The options several tools share (``segclassics.utils.cli_args``) read and behave the same in
every entry point: the console scripts, ``tools/*.py`` and the ``python -m segclassics...`` commands."""

from __future__ import annotations

import argparse
import importlib
import re
import runpy

import pytest

from segclassics.utils import cli_args

# entry point -> the shared options it takes. The function is called with ["--help"].
ENTRY_POINTS = {
    "segclassics.engine.cli:train_main": {"--cfg-options", "--trust-checkpoint", "--debug", "--overwrite", "--amp"},
    "segclassics.engine.cli:test_main": {"--cfg-options", "--trust-checkpoint", "--debug", "--overwrite"},
    "segclassics.engine.infer_cli:infer_main": {
        "--cfg-options",
        "--trust-checkpoint",
        "--debug",
        "--overwrite",
        "--amp",
    },
    "segclassics.engine.publish_cli:publish_main": {"--trust-checkpoint", "--debug"},
    "segclassics.engine.benchmark:main": {"--cfg-options", "--debug"},
    "segclassics.engine.reproduce:main": {"--cfg-options", "--debug"},
    "segclassics.deploy.cli:export_main": {"--cfg-options", "--trust-checkpoint", "--debug", "--overwrite"},
    "segclassics.deploy.benchmark:main": {"--cfg-options", "--debug"},
    "segclassics.detectron2.train_net:cli": {"--debug"},
    "tools/demo.py:main": {"--cfg-options"},
    "tools/analysis/plot_run.py:main": {"--debug"},
}

# tools/*.py -> the package function it runs (so its options are that function's)
TOOLS = {
    "tools/train.py": "segclassics.engine.cli:train_main",
    "tools/test.py": "segclassics.engine.cli:test_main",
    "tools/infer.py": "segclassics.engine.infer_cli:infer_main",
    "tools/publish_model.py": "segclassics.engine.publish_cli:publish_main",
    "tools/benchmark.py": "segclassics.engine.benchmark:main",
    "tools/reproduce.py": "segclassics.engine.reproduce:main",
    "tools/export_onnx.py": "segclassics.deploy.cli:export_main",
    "tools/analysis/onnx_benchmark.py": "segclassics.deploy.benchmark:main",
}


@pytest.fixture(autouse=True)
def _tools_importable(repo_root, monkeypatch):
    # tools/*.py import tools/_bootstrap.py as their own folder's module
    monkeypatch.syspath_prepend(str(repo_root / "tools"))


def _function(target: str, repo_root):
    module, _, name = target.partition(":")
    if "detectron2" in module:
        pytest.importorskip("detectron2")
    if module.startswith("tools/"):
        return runpy.run_path(str(repo_root / module))[name]
    return getattr(importlib.import_module(module), name)


def _help(main, monkeypatch, capsys) -> str:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps the help to the terminal's width
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def _option_help(text: str, flag: str) -> str:
    """The help block of ``flag`` (its invocation line and the indented lines under it), with the
    whitespace of the wrapping collapsed; '' when the help has no such option."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"  (-\w, )?{re.escape(flag)}\b", line):
            block = [line]
            for more in lines[i + 1 :]:
                if not more.startswith("   "):  # the next option (2 spaces), a section, the end
                    break
                block.append(more)
            return " ".join(" ".join(block).split())
    return ""


def _reference(add, *args) -> str:
    """The help block a parser holding only ``add(parser, *args)``'s option prints."""
    parser = argparse.ArgumentParser()
    add(parser, *args)
    flag = parser._actions[-1].option_strings[0]
    return _option_help(parser.format_help(), flag)


SHARED = {
    "--cfg-options": cli_args.add_cfg_options,
    "--trust-checkpoint": cli_args.add_trust_checkpoint,
    "--debug": cli_args.add_debug,
    "--amp": cli_args.add_amp,
}


@pytest.mark.parametrize("target", list(ENTRY_POINTS))
def test_shared_options_read_the_same_in_every_entry_point(target, repo_root, monkeypatch, capsys):
    text = _help(_function(target, repo_root), monkeypatch, capsys)
    assert text.startswith("usage: ")
    for flag in sorted(ENTRY_POINTS[target]):
        block = _option_help(text, flag)
        assert block, f"{target}: no {flag}"
        if flag == "--overwrite":  # which files it replaces is the tool's; the rest is shared
            assert block.startswith("--overwrite replace "), block
            assert block.endswith("; " + cli_args.OVERWRITE_TAIL), block
        elif flag == "--cfg-options":  # a tool may add what they apply to
            reference = _reference(SHARED[flag])
            assert block == reference or block.startswith(reference + "; "), block
        else:
            assert block == _reference(SHARED[flag]), block


def test_the_shared_texts(monkeypatch, capsys):
    # the blocks the entry points are compared with, as a user reads them
    monkeypatch.setenv("COLUMNS", "100")
    assert _reference(cli_args.add_debug) == "--debug show tracebacks for input errors"
    assert _reference(cli_args.add_trust_checkpoint) == (
        "--trust-checkpoint unpickle checkpoints fully (they can run code!): only for legacy files whose "
        "origin you trust; by default checkpoints are read as plain data (torch weights_only)"
    )
    assert _reference(cli_args.add_cfg_options, "applied to every config") == (
        "--cfg-options KEY=VALUE [KEY=VALUE ...] override config entries in the framework's own syntax, "
        "e.g. train_cfg.max_iters=100 (mmengine), train.max_iter=100 (detectron2 LazyConfig) or "
        "SOLVER.MAX_ITER=100 (detectron2 yaml); applied to every config"
    )
    assert _reference(cli_args.add_overwrite, "an --out file this run did not write") == (
        "--overwrite replace an --out file this run did not write; a dataset's images and labels are never written over"
    )


def test_shared_options_parse_the_same(tmp_path):
    parser = argparse.ArgumentParser()
    for add in (cli_args.add_cfg_options, cli_args.add_trust_checkpoint, cli_args.add_debug, cli_args.add_amp):
        add(parser)
    cli_args.add_overwrite(parser, "files")
    defaults = vars(parser.parse_args([]))
    assert defaults == dict(cfg_options=[], trust_checkpoint=False, debug=False, amp=False, overwrite=False)
    given = vars(parser.parse_args(["--cfg-options", "a=1", "b.c=2", "--trust-checkpoint", "--debug", "--amp"]))
    assert given["cfg_options"] == ["a=1", "b.c=2"] and given["trust_checkpoint"] and given["debug"] and given["amp"]


def test_option_blocks_are_found_whole():
    # the block reader on a known help (a reader that found nothing would let every check pass)
    text = "options:\n  --a X     first line\n            --b in a line\n  --b       other\n\nmore:\n"
    assert _option_help(text, "--a") == "--a X first line --b in a line"
    assert _option_help(text, "--b") == "--b other"
    assert _option_help(text, "--c") == ""


@pytest.mark.parametrize("tool", list(TOOLS))
def test_tools_run_the_package_entry_points(tool, repo_root):
    namespace = runpy.run_path(str(repo_root / tool))
    function = _function(TOOLS[tool], repo_root)
    assert function in namespace.values(), f"{tool} does not run {TOOLS[tool]}"
