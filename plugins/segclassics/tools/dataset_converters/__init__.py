"""``python -m segclassics.tools.dataset_converters.<name>``: see each module."""
