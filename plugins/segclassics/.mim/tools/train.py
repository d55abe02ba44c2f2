"""``mim train segclassics CONFIG [ARGS]`` runs this file: OpenMMLab's ``mim`` looks for a package's
training script at ``<package>/.mim/tools/train.py``. It is ``segclassics-train`` (the same options)."""
import sys

from segclassics.engine.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main())
