"""``mim test segclassics CONFIG --checkpoint FILE [ARGS]`` runs this file: OpenMMLab's ``mim`` looks for
a package's test script at ``<package>/.mim/tools/test.py``. It is ``segclassics-test`` (the same options)."""
import sys

from segclassics.engine.cli import test_main

if __name__ == "__main__":
    sys.exit(test_main())
