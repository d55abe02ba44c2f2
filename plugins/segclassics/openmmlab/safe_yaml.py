"""mmengine's yaml and pickle files read as plain data only.

mmengine's ``YamlHandler`` (behind ``Config.fromfile`` of a ``.yaml`` config, ``mmengine.load``)
reads with ``yaml.Loader``/``CLoader``, which constructs whatever a python tag names
(``!!python/object/apply:os.system``). Importing ``segclassics.openmmlab`` registers
:class:`SafeYamlHandler` for ``yaml``/``yml`` instead: plain data loads as before, a python tag
is one refusal, and so is a document whose aliases expand without bound
(:func:`segclassics.utils.reader.safe_load_yaml`). Its ``PickleHandler``
(``mmengine.load('x.pkl')``: annotation and result files) unpickles fully; :class:`SafePickleHandler`
builds containers and numpy arrays only (:class:`segclassics.utils.reader.PlainDataUnpickler`).
"""

from __future__ import annotations

import pickle

from mmengine.fileio.handlers import PickleHandler, YamlHandler, register_handler

from segclassics.utils.reader import PlainDataUnpickler, UnsafeCheckpointError, safe_load_yaml


class SafeYamlHandler(YamlHandler):
    def load_from_fileobj(self, file, **kwargs):
        return safe_load_yaml(file)


register_handler(["yaml", "yml"])(SafeYamlHandler)


class SafePickleHandler(PickleHandler):
    def load_from_fileobj(self, file, **kwargs):
        try:
            return PlainDataUnpickler(file, encoding="latin1").load()
        except pickle.UnpicklingError as exc:
            raise UnsafeCheckpointError(
                f"{getattr(file, 'name', 'pickle file')}: refused to load: {exc}; a data "
                f"file holds plain values and arrays only"
            ) from None


register_handler(["pickle", "pkl"])(SafePickleHandler)
