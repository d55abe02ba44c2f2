"""Pickles as other programs write them, for the reader's tests.

* :func:`dumps` pickles with any protocol, optionally under numpy >= 2's module names
  (``numpy._core.multiarray._reconstruct`` ...), which this numpy 1.x can write only by renaming
  the globals as it pickles (:class:`RenamingPickler`);
* :class:`RunsCode` objects, when unpickled, create a marker file (``touch``): a test asserts a
  refusal and that the marker does not exist.
"""

from __future__ import annotations

import io
import os
import pickle
import types

import torch

#: numpy 1.x module -> the name numpy >= 2 pickles the same functions under
NUMPY2_NAMES = {"numpy.core.multiarray": "numpy._core.multiarray", "numpy.core.numeric": "numpy._core.numeric"}


class Global:
    """A reference to ``module.name`` as a pickle writes it, whether or not it can be imported here."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # never called here: pickle only wants a callable to refer to
        raise AssertionError(f"{self.module}.{self.name} called while pickling")


class Call:
    """Unpickles as ``module.name(*args)``: what a pickle that runs code looks like."""

    def __init__(self, module: str, name: str, *args):
        self.target, self.args = Global(module, name), args

    def __reduce__(self):
        return self.target, self.args


class RenamingPickler(pickle._Pickler):
    """Python's own pickler, writing :class:`Global` references as given and, with ``numpy2``,
    the globals of :data:`NUMPY2_NAMES` under numpy 2's names."""

    numpy2 = False

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, Global):
            return self._write_global(obj.module, obj.name)
        return super().save(obj, save_persistent_id)

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", None)
        if not self.numpy2 or module not in NUMPY2_NAMES:
            return super().save_global(obj, name)
        self._write_global(NUMPY2_NAMES[module], name or obj.__qualname__)
        self.memoize(obj)

    def _write_global(self, module: str, name: str) -> None:
        if self.proto >= 4:
            self.save(module)
            self.save(name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())


def _pickler(numpy2: bool):
    return type("Pickler", (RenamingPickler,), {"numpy2": numpy2})


def dumps(obj, protocol: int = pickle.DEFAULT_PROTOCOL, numpy2: bool = False) -> bytes:
    buffer = io.BytesIO()
    _pickler(numpy2)(buffer, protocol=protocol).dump(obj)
    return buffer.getvalue()


def torch_save(obj, path, numpy2: bool = False) -> None:
    """``torch.save`` (torch's zip format, pickle protocol 2), numpy arrays under numpy 2's names
    when ``numpy2``."""
    module = types.SimpleNamespace(Pickler=_pickler(numpy2), __name__="pickle")
    torch.save(obj, path, pickle_module=module)


class RunsCode:
    """Unpickling this calls ``os.system('touch MARKER')``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)
