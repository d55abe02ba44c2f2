"""``CheckedLoadImageFromFile``: mmcv's ``LoadImageFromFile`` that names a file it cannot decode.

mmcv's loader (used by mmseg and mmdet pipelines) fails on an unreadable image with
``AssertionError: failed to load image`` or the decoder's own exception (no file name in
Pillow's "image file is truncated"), and OpenCV, its default decoder, returns a truncated JPEG
without an error, grey where the data is missing. This subclass decodes exactly as mmcv does and
adds :func:`segclassics.datasets.sample_checks.check_image_complete` (a look at the file's last
bytes), for mmdet a comparison of the image's size with the ``height``/``width`` its annotation
records (instance masks are drawn at that size), and a
:class:`~segclassics.datasets.sample_checks.DataError` naming the file.

A decoded and checked image is kept in the process's :mod:`segclassics.datasets.decoded_cache`,
so later epochs neither decode nor check it again.

``segclassics.engine.data_check.add_sample_checks`` puts it in place of ``LoadImageFromFile``
in every pipeline of a config run by tools/train.py and tools/test.py; it is registered as
``CheckedLoadImageFromFile`` by ``segclassics.mmseg.checked_load_image`` and
``segclassics.mmdet.checked_load_image``.
"""

from __future__ import annotations

from typing import Optional

from mmcv.transforms import LoadImageFromFile

from ..datasets.decoded_cache import decoded_cache, file_key
from ..datasets.sample_checks import (
    DataError,
    check_image_complete,
    check_recorded_size,
    check_stored_image,
    image_error,
)


class CheckedLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` (same arguments, same output keys ``img``, ``img_shape``,
    ``ori_shape``) whose decoding failures and truncated JPEGs are a ``DataError`` naming
    ``results['img_path']``. ``ignore_empty=True`` keeps mmcv's behaviour (skip the sample)."""

    def transform(self, results: dict) -> Optional[dict]:
        path = results["img_path"]
        key = None
        if isinstance(path, str) and self.backend_args is None and self.file_client_args is None:
            key = file_key(path, "image", self.color_type, self.imdecode_backend, self.to_float32)
        img = decoded_cache().get(key)
        if img is not None:  # decoded and checked before in this process
            results.update(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
            out = results
        else:
            try:
                out = super().transform(results)
            except DataError:
                raise
            except Exception as exc:  # noqa: BLE001 - AssertionError('failed to load image') or the decoder's
                raise image_error([path], exc) from exc
            if out is not None and isinstance(path, str):
                check_image_complete(path)
                check_stored_image(path, decodes_unchanged=self.color_type == "unchanged")
                decoded_cache().put(key, out["img"])
        if out is not None and "height" in results and "width" in results:  # mmdet: masks are drawn at that size
            check_recorded_size(out["ori_shape"], (results["height"], results["width"]), path)
        return out
