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
#: The part of a pragma comment that must stay on its line.
KEEP_INLINE = re.compile(r"#\s*(noqa(:\s*[A-Z]+[0-9]+(,\s*[A-Z]+[0-9]+)*)?|pragma: no cover|type: ignore(\[[\w-]+\])?)")


def _docstrings(tree: ast.AST):
    """The ``ast.Constant`` of every module, class and function docstring in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                yield first.value


def _docstring_lines(tree: ast.AST) -> Set[int]:
    lines: Set[int] = set()
    for doc in _docstrings(tree):
        lines.update(range(doc.lineno, doc.end_lineno + 1))
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
        pragma = KEEP_INLINE.match(comment)
        if comment and pragma and comment[pragma.end() :].strip(" -:;,"):
            # a pragma with an explanation: the pragma stays on the line, the explanation goes above
            text = comment[pragma.end() :].strip(" -:;,")
            out += _wrap(text, f"{indent}# ", limit) + [line[:col].rstrip() + "  " + pragma.group(0).rstrip()]
        elif comment and not PRAGMAS.search(comment):
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
    for doc in _docstrings(tree):
        doc.value = " ".join(doc.value.split())
    return ast.dump(tree)


def _split_points(body: str, is_f: bool) -> List[int]:
    """Offsets in a string literal's ``body`` after which it may be cut: after a space or a ``|``
    (regular expressions), outside an f-string's ``{...}`` fields, not inside an escape."""
    points, depth, i = [], 0, 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            i += 2
            continue
        if is_f and c in "{}" and body[i : i + 2] in ("{{", "}}") and depth == 0:
            i += 2
            continue
        if is_f and c == "{":
            depth += 1
        elif is_f and c == "}":
            depth -= 1
        elif c in " |" and depth == 0 and 0 < i < len(body) - 1:  # after a space or a regex's "|"
            points.append(i + 1)
        i += 1
    return points


def _cut(body: str, points: List[int], first: int, rest: int) -> List[str]:
    """``body`` cut at ``points`` into pieces of at most ``first`` then ``rest`` characters
    (a piece with no point early enough stays longer)."""
    pieces, start, room = [], 0, first
    while len(body) - start > room:
        fitting = [p for p in points if start < p <= start + room]
        if not fitting:
            break
        pieces.append(body[start : fitting[-1]])
        start, room = fitting[-1], rest
    return pieces + [body[start:]]


def split_strings(source: str, limit: int) -> str:
    """``source`` with each single-line string literal that crosses ``limit`` cut into adjacent
    literals on continuation lines (Python joins them: the same constant), parenthesised where it
    is not inside brackets already."""
    lines = source.splitlines()
    depth, edits = 0, {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif tok.type == tokenize.STRING and tok.start[0] == tok.end[0] and tok.start[0] not in edits:
            row, col, end = tok.start[0], tok.start[1], tok.end[1]
            if len(lines[row - 1]) <= limit or end <= limit:
                continue
            prefix = re.match(r"[A-Za-z]*", tok.string).group(0)
            quoted = tok.string[len(prefix) :]
            if quoted[:3] in ('"""', "'''") or "b" in prefix.lower():
                continue
            quote, body = quoted[0], quoted[1:-1]
            overhead = len(prefix) + 2 + (depth == 0)  # quotes, prefix, the parenthesis added
            pieces = _cut(
                body, _split_points(body, "f" in prefix.lower()), limit - col - overhead, limit - col - overhead
            )
            if len(pieces) > 1:
                literals = [f"{prefix}{quote}{piece}{quote}" for piece in pieces]
                if depth == 0:  # outside brackets: parenthesised, so the pieces may continue lines
                    literals[0], literals[-1] = "(" + literals[0], literals[-1] + ")"
                edits[row] = (col, end, literals)
    for row, (col, end, literals) in sorted(edits.items(), reverse=True):
        line = lines[row - 1]
        hang = col + 1 if literals[0].startswith("(") else col
        new = [line[:col] + literals[0]] + [" " * hang + lit for lit in literals[1:]]
        new[-1] += line[end:]
        lines[row - 1 : row] = new
    return "\n".join(lines) + ("\n" if source.endswith("\n") else "")


def bracket_assignments(source: str, limit: int) -> str:
    """``source`` with the value of each one-line assignment over ``limit`` columns that has no
    bracket to break at put in parentheses on the next line (``x = (`` / ``    value)``), which the
    formatters then wrap; parentheses around an expression leave the syntax tree as it was."""
    lines = source.splitlines()
    tree = ast.parse(source)
    for node in sorted(ast.walk(tree), key=lambda n: -getattr(n, "lineno", 0)):
        if not isinstance(node, ast.Assign) or node.lineno != node.end_lineno:
            continue
        line = lines[node.lineno - 1]
        value = node.value
        if len(line) <= limit or value.col_offset <= 0 or line[: value.col_offset].rstrip()[-1:] != "=":
            continue
        text = line[value.col_offset : value.end_col_offset]
        if text.startswith(("(", "[", "{")) or line[value.end_col_offset :].strip():
            continue
        indent = line[: len(line) - len(line.lstrip())]
        lines[node.lineno - 1 : node.lineno] = [line[: value.col_offset] + "(", f"{indent}    {text})"]
    return "\n".join(lines) + ("\n" if source.endswith("\n") else "")


def wrap_tree(folder: str, limit: int) -> None:
    """Wrap every ``.py`` file under ``folder`` in place (see :func:`wrap_source`)."""
    for dirpath, _, files in os.walk(folder):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                with open(path) as f:
                    source = f.read()
                wrapped = wrap_source(source, limit)
                for step in (split_strings, bracket_assignments):
                    changed = step(wrapped, limit)
                    if ast.dump(ast.parse(changed)) == ast.dump(ast.parse(wrapped)):  # the same program
                        wrapped = changed
                if wrapped != source:
                    with open(path, "w") as f:
                        f.write(wrapped)
