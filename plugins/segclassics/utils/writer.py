"""The one writer for every file segclassics writes: checkpoints, ``last_weights.pth``,
predictions, overlays, ONNX graphs, metrics JSON, published weights, converted datasets.

Its promises, kept here for every caller:

* **never replaces a file it did not create in this run** (this process), unless the user said
  so (``--overwrite``: :func:`overwriting`); a work dir a run continues (``--resume``) is
  adopted (:func:`adopt_folder`), its files are the run's own;
* **never writes an image into a dataset's image or label folder**, even with ``--overwrite``: a
  folder that holds images other than predictions is someone's data. The predictions and
  overlays segclassics writes (:func:`save_png`) carry a PNG text chunk saying so
  (``segclassics: prediction``), so an earlier run's outputs are told from a dataset's files
  without any list kept beside them;
* **atomic**: a file is written under a temporary name next to it and renamed into place, so a
  kill or a full disk never leaves a partial file under the final name; a full disk is one line,
  ``no space left on DEVICE (mounted at M): FILE not written``;
* **one line for every failure**: :class:`WriteError` names the file and what would be right
  (a folder where a file is expected, a read-only or missing folder, permissions);
* **a work dir belongs to one run at a time** (:func:`lock_work_dir`): ``.segclassics.lock``
  holds the holder's pid and host; a second run is refused naming them, a lock whose process is
  gone is stale and taken over.

Framework-free: the frameworks' own savers are routed here by thin glue
(``segclassics.openmmlab.checkpoint_saving``, ``segclassics.detectron2.checkpointer``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import tempfile
import time
from typing import IO, Iterator, Optional, Set

from segclassics.errors import UserError

__all__ = [
    "WriteError",
    "DiskFullError",
    "WorkDirLockedError",
    "open_for_write",
    "path_for_write",
    "check_writable",
    "overwriting",
    "adopt_folder",
    "lock_work_dir",
    "release_work_dir",
    "write_text",
    "write_json",
    "created_in_this_run",
    "forget_created",
    "take_work_dir",
    "last_checkpoint_written",
    "save_png",
    "save_image",
    "is_prediction_image",
]

#: What counts as an image when a folder is judged to be a dataset's (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
LOCK = ".segclassics.lock"
#: The PNG text chunk that marks an image as a segclassics prediction (key, value).
PREDICTION_MARK = ("segclassics", "prediction")


class WriteError(UserError, RuntimeError):
    """A file cannot or must not be written (one line naming it)."""


class DiskFullError(WriteError):
    """The disk filled up while writing; nothing was left under the file's name."""


class WorkDirLockedError(WriteError):
    """Another live run holds the work dir."""


_created: Set[str] = set()
_adopted: Set[str] = set()
_overwrite = [False]
_data_folders: dict = {}


def _key(path: str) -> str:
    return os.path.realpath(os.path.abspath(os.path.expanduser(path)))


def created_in_this_run(path: str) -> bool:
    return _key(path) in _created


def forget_created() -> None:
    """Start over as a fresh run would (tests that run several tools in one process)."""
    _created.clear()
    _adopted.clear()
    _data_folders.clear()


@contextlib.contextmanager
def overwriting(allowed: bool = True) -> Iterator[None]:
    """Within the block, files that this run did not create may be replaced (``--overwrite``)."""
    _overwrite.append(bool(allowed))
    try:
        yield
    finally:
        _overwrite.pop()


def adopt_folder(folder: str) -> None:
    """The files directly in ``folder`` are this run's own (a work dir it continues)."""
    _adopted.add(_key(folder))


def _ours(path: str) -> bool:
    key = _key(path)
    return key in _created or os.path.dirname(key) in _adopted


def is_prediction_image(path: str) -> bool:
    """Whether ``path`` is a PNG that :func:`save_png` wrote (it carries :data:`PREDICTION_MARK`);
    reads the file's header only."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.format == "PNG" and im.info.get(PREDICTION_MARK[0]) == PREDICTION_MARK[1]
    except Exception:  # noqa: BLE001 - unreadable: not one of ours
        return False


def _foreign_image(folder: str) -> Optional[str]:
    """An image file in ``folder`` that is not a segclassics prediction, or None (once per folder
    and run: the first such file ends the search)."""
    key = _key(folder)
    if key in _data_folders:
        return _data_folders[key]
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        names = []
    foreign = next(
        (
            n
            for n in names
            if n.lower().endswith(IMAGE_EXTENSIONS)
            and _key(os.path.join(folder, n)) not in _created
            and not is_prediction_image(os.path.join(folder, n))
        ),
        None,
    )
    _data_folders[key] = foreign
    return foreign


def _existing_ancestor(folder: str) -> str:
    while folder and not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def check_writable(path: str, overwrite: Optional[bool] = None, what: str = "") -> None:
    """Raise :class:`WriteError` (one line) unless ``path`` may be written by this run: see the
    module docstring. ``overwrite``: the user's ``--overwrite`` (default: :func:`overwriting`).
    ``what``: the option that named the path, for the message (``--out``)."""
    overwrite = _overwrite[-1] if overwrite is None else overwrite
    named = f"{what} {path}" if what else path
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise WriteError(f"{named} is a folder; give a file name")
    ancestor = _existing_ancestor(folder)
    if not os.path.isdir(ancestor):
        raise WriteError(f"{named}: {ancestor} is a file, not a folder; choose another place")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only(ancestor) else "no permission to write there"
        raise WriteError(f"cannot write {path}: {ancestor} is not writable ({reason}); choose another place")
    if path.lower().endswith(IMAGE_EXTENSIONS) and os.path.isdir(folder):
        foreign = _foreign_image(folder)
        if foreign is not None:
            raise WriteError(
                f"{folder} holds images that segclassics did not write (e.g. {foreign}): it looks like a "
                f"dataset's image or label folder, which is never written into; choose another place"
                f"{' than ' + what if what else ''}"
            )
    if os.path.lexists(path) and not _ours(path) and not overwrite:
        # the option is named only where the running tool offers it (it entered overwriting())
        offer = "Pass --overwrite to replace it, or choose" if len(_overwrite) > 1 else "Choose"
        raise WriteError(
            f"{path} exists and was not written by this run; it is kept. {offer} another place"
            f"{' than ' + what if what else ''}"
        )


def _read_only(folder: str) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _mount_point(folder: str) -> str:
    folder = os.path.realpath(folder)
    while not os.path.ismount(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def _device_of(folder: str) -> str:
    mount = _mount_point(folder)
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 1 and parts[1] == mount:
                    return f"{parts[0]} (mounted at {mount})"
    except OSError:
        pass
    return f"the device mounted at {mount}"


def _no_space_left(folder: str) -> bool:
    """Less than 1 MiB left where ``folder`` is."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < (1 << 20)


def _failure(path: str, exc: OSError) -> WriteError:
    folder = os.path.dirname(os.path.abspath(path))
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"no space left on {_device_of(folder)}: {path} not written")
    if exc.errno == errno.EROFS:
        return WriteError(f"cannot write {path}: read-only file system; choose another place")
    return WriteError(f"cannot write {path}: {exc.strerror or exc}")


def _record(path: str) -> None:
    _created.add(_key(path))


@contextlib.contextmanager
def path_for_write(path: str, overwrite: Optional[bool] = None, what: str = "") -> Iterator[str]:
    """A temporary path next to ``path`` for a writer that takes a path (ONNX, Pillow); renamed to
    ``path`` when the block ends without error. Checked first (:func:`check_writable`)."""
    check_writable(path, overwrite, what)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        stem, ext = os.path.splitext(os.path.basename(path))
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{ext}", dir=folder)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; outputs get the usual permissions
    except OSError as exc:
        raise _failure(path, exc) from None
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _failure(path, exc) from None
    except Exception:
        # torch's zip writer reports a full disk as a RuntimeError ("unexpected pos ...", "file write
        # failed"): judged by the free space left, before the temporary file gives it back
        full = _no_space_left(folder)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if full:
            raise _failure(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) from None
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _record(path)


@contextlib.contextmanager
def open_for_write(path: str, mode: str = "wb", overwrite: Optional[bool] = None, what: str = "") -> Iterator[IO]:
    """Open ``path`` for writing through :func:`path_for_write` (checked, atomic, one-line errors)."""
    with path_for_write(path, overwrite, what) as tmp:
        try:
            with open(tmp, mode) as f:
                yield f
                f.flush()
        except OSError as exc:
            raise _failure(path, exc) from None


def save_image(path: str, image, **kwargs) -> str:
    """Write ``image`` (a numpy array or a PIL image) in the format its name says (a converted
    dataset's images and labels), through :func:`path_for_write`; ``quality`` etc. go to Pillow."""
    import numpy as np
    from PIL import Image

    options = {k: kwargs.pop(k) for k in list(kwargs) if k not in ("overwrite", "what")}
    picture = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    fmt = Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    with path_for_write(path, **kwargs) as tmp:
        picture.save(tmp, format=fmt, **options)
    return path


def save_png(path: str, image, **kwargs) -> str:
    """Write ``image`` (a numpy array or a PIL image) as a PNG marked as a prediction
    (:data:`PREDICTION_MARK`), through :func:`path_for_write`."""
    import numpy as np
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(*PREDICTION_MARK)
    picture = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    with path_for_write(path, **kwargs) as tmp:
        picture.save(tmp, format="PNG", pnginfo=info)
    return path


def write_text(path: str, text: str, **kwargs) -> str:
    with open_for_write(path, "w", **kwargs) as f:
        f.write(text)
    return path


def write_json(path: str, obj, **kwargs) -> str:
    """``obj`` as strict JSON: a NaN or infinity is refused, never written as ``NaN``."""
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False)
    return write_text(path, text + "\n", **kwargs)


# ----------------------------------------------------------------------------- work-dir lock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_work_dir(work_dir: str) -> str:
    """Take ``work_dir`` for this run: ``.segclassics.lock`` with pid, host and start time,
    created exclusively. A live holder is refused (:class:`WorkDirLockedError`, naming it); a lock
    whose process is gone on this host is stale and taken over. Returns the lock's path."""
    try:
        os.makedirs(work_dir, exist_ok=True)
    except FileExistsError:
        raise WriteError(f"--work-dir {work_dir} is a file, not a folder; choose another work dir") from None
    except OSError as exc:
        raise WriteError(f"cannot create --work-dir {work_dir}: {exc.strerror}") from None
    if not os.access(work_dir, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only(work_dir) else "no permission to write there"
        raise WriteError(f"--work-dir {work_dir} is not writable ({reason}); choose another work dir")
    path = os.path.join(work_dir, LOCK)
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder and holder["pid"] == os.getpid() and holder.get("host") == record["host"]:
                return path  # this process holds it already
            if holder and (holder.get("host") != record["host"] or _alive(holder["pid"])):
                raise WorkDirLockedError(
                    f"--work-dir {work_dir} is in use by another run (pid {holder.get('pid')} on {holder.get('host')}, "
                    f"started {holder.get('started')}); wait for it to end or choose another work dir"
                ) from None
            with contextlib.suppress(OSError):  # stale: its process is gone
                os.unlink(path)
            continue
        except OSError as exc:
            raise _failure(path, exc) from None
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        _created.add(_key(path))
        return path
    raise WorkDirLockedError(
        f"--work-dir {work_dir}: could not take its lock {path}; remove it if no run uses the work dir"
    )


def _holder(path: str) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            holder = json.load(f)
        return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else {}
    except (OSError, ValueError):
        return {}  # unreadable or half-written: treated as stale


#: What a training writes into its work dir (name endings): a work dir holding them is a run's.
WORK_DIR_OUTPUTS = (".pth", "last_checkpoint")


def default_work_dir(config: str) -> str:
    """``./work_dirs/<config file stem>``: where a training of ``config`` writes when neither
    ``--work-dir`` nor the config names a folder (a ``segclassics::`` prefix is dropped)."""
    return os.path.join("./work_dirs", os.path.splitext(os.path.basename(config.split("::")[-1]))[0])


def take_work_dir(
    work_dir: str, resume: bool = False, overwrite: bool = False, outputs: tuple = WORK_DIR_OUTPUTS
) -> None:
    """Start a training in ``work_dir``: lock it (:func:`lock_work_dir`, released at exit) and
    decide whose its files are. ``resume``: the run continues the one that wrote them (adopted);
    otherwise a work dir that already holds checkpoints is refused, unless ``overwrite``."""
    import atexit

    lock_work_dir(work_dir)
    atexit.register(release_work_dir, work_dir)
    if resume or overwrite:
        adopt_folder(work_dir)
        return
    found = sorted(n for n in os.listdir(work_dir) if n.endswith(outputs))
    if found:
        shown = ", ".join(found[:3]) + (" ..." if len(found) > 3 else "")
        release_work_dir(work_dir)
        raise WriteError(
            f"--work-dir {work_dir} holds the checkpoints of an earlier run ({shown}); continue it with "
            f"--resume, choose another --work-dir, or pass --overwrite to replace them"
        )


def last_checkpoint_written() -> Optional[str]:
    """The newest ``.pth`` this run wrote (for the line printed when a run is interrupted)."""
    written = [p for p in _created if p.endswith(".pth") and os.path.isfile(p)]
    return max(written, key=os.path.getmtime) if written else None


def release_work_dir(work_dir: str) -> None:
    path = os.path.join(work_dir, LOCK)
    holder = _holder(path)
    if holder and holder.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            os.unlink(path)
