"""Where the configs shipped with segclassics live, and what ``segclassics::REL`` points to.

The configs sit in the package under ``segclassics/.mim/configs/`` -- the layout OpenMMLab
packages use for theirs (``mmseg/.mim/configs``), so ``segclassics::unet/unet_synthetic.py``
means ``<installed segclassics>/.mim/configs/unet/unet_synthetic.py``. In a wheel they are
real files; in a source checkout ``plugins/segclassics/.mim/configs`` is a link to the
repository's ``configs/``, so an editable install and a plain checkout resolve the same way.

Command line: ``python -m segclassics.utils.package_configs segclassics::REL`` prints the file's
absolute path (for tools that take only a path, e.g. mmseg's own ``tools/train.py``).
"""

from __future__ import annotations

import os
import sys

from segclassics.errors import UserError

PREFIX = "segclassics::"


def configs_root() -> str:
    """Absolute path of the packaged configs folder (``<segclassics>/.mim/configs``)."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = os.path.join(package_dir, ".mim", "configs")
    if not os.path.isdir(root):
        raise UserError(
            f"this segclassics installation ({package_dir}) carries no configs ({root} is "
            f"missing): install segclassics from its wheel or from a source checkout"
        )
    return root


def is_packaged_reference(ref: str) -> bool:
    return ref.startswith(PREFIX)


def resolve(ref: str) -> str:
    """The file behind ``segclassics::REL``; raises :class:`UserError` if there is none.

    ``REL`` is a path relative to the packaged configs folder, with ``/`` separators, e.g.
    ``unet/unet_synthetic.py`` or ``_base_/default_runtime.py``.
    """
    if not is_packaged_reference(ref):
        raise UserError(
            f"{ref!r} is not a packaged config reference (they start with {PREFIX!r}, "
            f"e.g. segclassics::unet/unet_synthetic.py)"
        )
    relative = ref[len(PREFIX) :]
    root = configs_root()
    full = os.path.normpath(os.path.join(root, *relative.split("/")))
    if os.path.isabs(relative) or not full.startswith(root + os.sep) or not os.path.isfile(full):
        raise UserError(
            f"{ref!r}: no such packaged config ({full} does not exist); packaged configs are "
            f"named relative to {root}, e.g. segclassics::unet/unet_synthetic.py"
        )
    return full


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m segclassics.utils.package_configs", description="Print the absolute path of a packaged config."
    )
    parser.add_argument("reference", help="segclassics::REL, e.g. segclassics::unet/unet_synthetic.py")
    args = parser.parse_args(argv)
    from .reporting import run_reporting_user_errors

    def run() -> int:
        print(resolve(args.reference))
        return 0

    return run_reporting_user_errors(run)


if __name__ == "__main__":
    sys.exit(main())
