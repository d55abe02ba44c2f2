"""Which of our exportable networks a built model contains, and its input-size rule.

The framework adapters (mmseg, detectron2) wrap the plain-torch modules of
``segclassics.models``, so one walk over ``model.modules()`` recognises the network whatever
framework built it:

============  ======================================================  ======================
family        recognised by                                           valid H, W
============  ======================================================  ======================
FCN-32s/16s/8s  ``FCNDecoder`` (VGG16 with convolutionised fc6/fc7)   any size >= 1
UNet 'same'   ``UNetEncoder(padding='same')``                         multiples of 2**(depth-1)
UNet 'valid'  ``UNetEncoder(padding='valid')``                        unet_valid_sizes (paper: 188 + 16k)
SegNet(-Basic)  ``SegNetEncoder`` (pool indices, ceil-mode pools)     any size >= 1
SETR          ``VisionTransformer`` + a SETR decoder                  any size >= 1
============  ======================================================  ======================

Which variant a model is, the model says: ``FCNDecoder.variant``, ``UNetEncoder.padding`` and
``.depth``, ``SegNetEncoder.arch`` (``'vgg16'`` or ``'basic'``) and the ``decoder`` of the SETR
heads (``'naive'``, ``'pup'``, ``'mla'``), all set by their constructors.

FCN's ``conv1_1`` padding of 100 and its crops, SegNet's recorded pre-pool sizes and SETR's
zero-padding to whole patches plus resizing of the position embedding make those three accept
every size (the checks of ``tests/test_onnx_export.py`` run odd sizes through onnxruntime).
Anything else (Mask R-CNN, the mixing configs' ASPP head, ...) is refused with
:class:`UnsupportedModelError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from segclassics.errors import UserError
from segclassics.models.fcn import FCNDecoder
from segclassics.models.segnet import SEGNET_ARCH_NAMES, SegNetEncoder
from segclassics.models.setr_heads import SETRMLAHead, SETRUpHead
from segclassics.models.unet import UNetEncoder, unet_valid_sizes
from segclassics.models.vit import VisionTransformer

from .sizes import SizeRule

EXPORTABLE = "FCN-32s/16s/8s, UNet (valid or same padding), SegNet, SegNet-Basic and SETR Naive/PUP/MLA"
SETR_DECODER_NAMES = {"naive": "Naive", "pup": "PUP", "mla": "MLA"}


class UnsupportedModelError(UserError):
    """The model is not one of the networks the ONNX export covers."""


@dataclass(frozen=True)
class Family:
    """``name`` for messages ("FCN-8s", "UNet (valid, depth 5)", ...) and the :class:`SizeRule`.

    ``argmax_unpooling``: the network unpools at each pooling window's argmax (SegNet), so that
    two values of a window within fp32 rounding of each other can move a decoder value between
    runtimes; the export's check then picks inputs without such ties.
    """

    name: str
    sizes: SizeRule
    argmax_unpooling: bool = False


def _of_type(model: nn.Module, cls):
    return [m for m in model.modules() if isinstance(m, cls)]


def unet_size_rule(encoder: UNetEncoder) -> SizeRule:
    step = 2 ** (encoder.depth - 1)
    if encoder.padding == "same":
        return SizeRule(step, 0, step, f"{encoder.depth - 1} 2x2 max pools")
    first = unet_valid_sizes(encoder.depth, "valid", max_size=64 * step)[0]
    return SizeRule(step, first, first, "an even map before each 2x2 max pool after the unpadded 3x3 convs")


def find_family(model: nn.Module, where: str) -> Family:
    """The exportable network inside ``model`` (built by any of our frameworks).

    Raises :class:`UnsupportedModelError` naming ``where`` (the config) and the covered models.
    """
    unets = _of_type(model, UNetEncoder)
    if unets:
        enc = unets[0]
        return Family(f"UNet ({enc.padding} padding, depth {enc.depth})", unet_size_rule(enc))
    fcns = _of_type(model, FCNDecoder)
    if fcns:
        return Family(f"FCN-{fcns[0].variant}", SizeRule(why="conv1_1 padding and crops restore the input size"))
    segnets = _of_type(model, SegNetEncoder)
    if segnets:
        return Family(
            SEGNET_ARCH_NAMES[segnets[0].arch],
            SizeRule(why="unpooling restores each recorded pre-pool size"),
            argmax_unpooling=True,
        )
    if _of_type(model, VisionTransformer):
        # every SETR head says which decoder it belongs to; an MLA model's auxiliary heads may be
        # classifiers of the Naive kind (mmseg's SETRNaiveHead on the neck), so MLA's own head decides
        decoders = {head.decoder for head in model.modules() if isinstance(head, (SETRUpHead, SETRMLAHead))}
        decoder = next((d for d in ("mla", "pup", "naive") if d in decoders), None)
        if decoder:
            return Family(f"SETR-{SETR_DECODER_NAMES[decoder]}", SizeRule(why="zero-padded to whole patches"))
    raise UnsupportedModelError(
        f"{where}: builds {type(model).__name__}, which the ONNX export does not cover; it exports "
        f"{EXPORTABLE}, and Mask R-CNN from its detectron2 configs (configs/detectron2/mask_rcnn_*.py)"
    )
