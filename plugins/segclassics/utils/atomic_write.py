"""Write a file so that no reader, and no kill at any moment, ever sees half of it."""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "wb") -> Iterator:
    """Open a temporary file next to ``path`` and, when the block ends without error, rename it
    to ``path`` (``os.replace``: atomic on POSIX). A kill at any moment leaves either the old
    ``path`` or the new one, never a partial file under that name."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a checkpoint gets the usual permissions
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
