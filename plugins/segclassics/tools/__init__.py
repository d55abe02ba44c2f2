"""The command-line tools that a wheel carries: dataset converters, weight converters, analysis.

Each runs as ``python -m segclassics.tools.<folder>.<name>``; ``tools/<folder>/<name>.py`` in a
source checkout is the same command (it calls the same ``main``).
"""
