"""Every tool makes segclassics importable through tools/_bootstrap.py, never by editing
``sys.path`` itself (the developer-only tools under dev/, which must run without segclassics,
are outside tools/)."""

from __future__ import annotations

from helpers import REPO

TOOLS = REPO / "tools"


def test_only_the_bootstrap_edits_sys_path():
    tools = list(TOOLS.rglob("*.py"))
    assert len(tools) > 15  # the scan sees the tools
    editing = [
        str(p.relative_to(TOOLS))
        for p in tools
        if "sys.path" in p.read_text(encoding="utf-8") and p.name != "_bootstrap.py"
    ]
    assert not editing, f"these tools edit sys.path instead of using tools/_bootstrap.py: {editing}"
    missing = [
        str(p.relative_to(TOOLS))
        for p in tools
        if p.name != "_bootstrap.py"
        and "segclassics" in p.read_text(encoding="utf-8")
        and "_bootstrap" not in p.read_text(encoding="utf-8")
    ]
    assert not missing, f"these tools import segclassics without tools/_bootstrap.py: {missing}"
