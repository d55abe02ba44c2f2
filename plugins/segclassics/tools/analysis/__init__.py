"""``python -m segclassics.tools.analysis.<name>``: see each module."""
