"""Teach mmengine's ``Config`` the ``segclassics::`` prefix in ``_base_``.

After :func:`enable_config_prefix` (called by ``import segclassics.mmseg`` /
``import segclassics.mmdet`` and by our config loader), a user's own config file anywhere can
inherit ours::

    _base_ = ['segclassics::unet/unet_synthetic.py']

mmengine 0.10 resolves ``pkg::path`` in ``_base_`` only for the OpenMMLab names listed in
``mmengine.config.utils.MODULE2PACKAGE``, and it marks every dict such a base contributes with
``_scope_='pkg'``, so each is later built in the registry tree of scope ``pkg``. That suits a
package with one registry scope of its own (``mmdet::`` bases build in mmdet's registries). It
does not suit ours: segclassics has no registries of its own -- its mmseg configs build in
``mmseg`` and its mmdet configs in ``mmdet`` -- so listing 'segclassics' in ``MODULE2PACKAGE``
would make mmengine's ``Runner`` look up ``EncoderDecoder`` in a 'segclassics' scope that does
not exist. Instead, ``Config._get_cfg_path`` (the one place mmengine turns a ``_base_`` entry
into a file and a scope) is wrapped: ``segclassics::REL`` becomes our packaged file with no
scope of its own, so its dicts build in the ``default_scope`` the base config itself sets, like
a base reached by a relative path. Every other entry goes to mmengine unchanged.

``custom_imports`` cannot do this: ``Config.fromfile`` reads ``_base_`` before it imports
anything, so this must run before the config is loaded.
"""

from __future__ import annotations

from segclassics.utils.package_configs import is_packaged_reference, resolve


def enable_config_prefix() -> None:
    """Make ``_base_ = ['segclassics::REL']`` resolve in every later ``Config.fromfile``
    (idempotent)."""
    from mmengine.config import Config

    original = Config.__dict__.get("_get_cfg_path")
    if original is None:
        import mmengine

        raise RuntimeError(
            f"mmengine {mmengine.__version__}: Config._get_cfg_path is gone, so "
            f"'segclassics::' in _base_ cannot be supported (segclassics needs mmengine<1.0)"
        )
    if getattr(original.__func__, "segclassics_prefix", False):
        return
    mmengine_get_cfg_path = original.__func__

    def _get_cfg_path(cfg_path: str, filename: str):
        if is_packaged_reference(cfg_path):
            return resolve(cfg_path), None
        return mmengine_get_cfg_path(cfg_path, filename)

    _get_cfg_path.segclassics_prefix = True
    _get_cfg_path.__doc__ = mmengine_get_cfg_path.__doc__
    Config._get_cfg_path = staticmethod(_get_cfg_path)
