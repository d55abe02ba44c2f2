"""Wrap the comments and docstrings of an assembled project to the upstream's line length.

This repository's sources use 120 columns; mmsegmentation and mmdetection check 79 (flake8's
default), detectron2 100. The formatters upstream runs (yapf, black) rewrap code but never
comments or docstrings, so the assembler wraps those in its output (the sources keep theirs):

* a comment line longer than the limit is wrapped at spaces, each line with the same indent and
  ``#`` / ``#:`` marker (a ruler such as ``# -----`` is shortened);
* a trailing comment that makes its line too long moves, wrapped, above the line (pragmas such as
  ``noqa`` / ``type:`` stay where they are);
* a docstring line longer than the limit is wrapped at spaces with the line's own indent.

Only whitespace and comment placement change: the module's syntax tree is the same before and after
(checked). Long string literals and code are left to the formatters and to hand editing.
"""

from __future__ import annotations

import ast
import io
import os
import re
import textwrap
import tokenize
from typing import List, Set

PRAGMAS = re.compile(r"#\s*(noqa|type:|fmt:|pragma|isort|yapf|pylint)")


def _docstring_lines(tree: ast.AST) -> Set[int]:
    lines: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def _wrap(text: str, indent: str, limit: int) -> List[str]:
    width = max(limit - len(indent), 20)
    # rulers ("# ------") are shortened to the width rather than left too long
    text = " ".join(w[:width] if re.fullmatch(r"([-=~*#_])\1+", w) else w for w in text.split())
    return [indent + part for part in textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)]


def wrap_source(source: str, limit: int) -> str:
    """``source`` with its long comments and docstring lines wrapped to ``limit`` columns."""
    tree = ast.parse(source)
    docstrings = _docstring_lines(tree)
    comments = {
        tok.start[0]: (tok.start[1], tok.string)
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    out: List[str] = []
    for number, line in enumerate(source.splitlines(), 1):
        if len(line) <= limit:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        col, comment = comments.get(number, (None, ""))
        if comment and not PRAGMAS.search(comment):
            marker = "#:" if comment.startswith("#:") else "#"
            text = comment[len(marker) :].strip()
            code = line[:col].rstrip()
            wrapped = _wrap(text, f"{indent}{marker} ", limit) if text else []
            out += wrapped + ([code] if code.strip() else [])
        elif number in docstrings and " " in line.strip():
            out += _wrap(line.strip(), indent, limit) or [line]
        else:
            out.append(line)
    result = "\n".join(out) + ("\n" if source.endswith("\n") else "")
    if ast.dump(ast.parse(result)) != ast.dump(tree):  # a docstring's words moved lines: compare them
        if _normalised(ast.parse(result)) != _normalised(tree):
            raise ValueError("wrapping changed the code")
    return result


def _normalised(tree: ast.AST) -> str:
    """The tree with every docstring's whitespace runs collapsed (wrapping changes only those)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                first.value.value = " ".join(first.value.value.split())
    return ast.dump(tree)


def wrap_tree(folder: str, limit: int) -> None:
    """Wrap every ``.py`` file under ``folder`` in place (see :func:`wrap_source`)."""
    for dirpath, _, files in os.walk(folder):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                with open(path) as f:
                    source = f.read()
                wrapped = wrap_source(source, limit)
                if wrapped != source:
                    with open(path, "w") as f:
                        f.write(wrapped)
