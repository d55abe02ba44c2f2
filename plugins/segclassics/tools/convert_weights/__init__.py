"""``python -m segclassics.tools.convert_weights.<name>``: see each module."""
