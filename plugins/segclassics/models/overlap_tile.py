"""Overlap-tile inference (Ronneberger et al. 2015, Sec. 2 and Fig. 2). Plain torch.

"This strategy allows the seamless segmentation of arbitrarily large images by an
overlap-tile strategy. To predict the pixels in the border region of the image, the missing
context is extrapolated by mirroring the input image." (Fig. 2)

A network with unpadded convolutions maps an input tile of ``tile_in`` pixels to the centre
``tile_out`` pixels, losing ``border = (tile_in - tile_out) / 2`` on each side. We mirror-pad the
image by ``border`` (and, for images smaller than one tile, further up to the tile size), run the
network on input tiles whose output tiles cover the image, and stitch the outputs (overlapping
outputs, which occur only where the last tile is shifted back to fit, are averaged). Any image
size yields a full-size prediction.
"""

from __future__ import annotations

from typing import Callable

import torch

from .size import Size, pair
from .unet import unet_output_size


def _mirror_index(n: int, before: int, after: int, device) -> torch.Tensor:
    """Indices into a length-``n`` axis for mirror padding ("reflect", no edge repetition) by any
    amount, repeating the reflection when the pad exceeds the axis (numpy's ``reflect`` mode)."""
    idx = torch.arange(-before, n + after, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - idx, idx)


def mirror_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Mirror-pad the last two dims of ``x`` by any amounts (torch's ``reflect`` pad requires the
    pad to be smaller than the size; this does not)."""
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"pads must be >= 0, got {(top, bottom, left, right)}")
    h, w = x.shape[-2:]
    iy = _mirror_index(h, top, bottom, x.device)
    ix = _mirror_index(w, left, right, x.device)
    return x.index_select(-2, iy).index_select(-1, ix)


def _starts(length: int, tile: int) -> list:
    """Tile starts (in output coordinates) covering ``[0, length)`` with tiles of ``tile``; the
    last tile is shifted back to end at ``length`` (``length >= tile``)."""
    starts = list(range(0, max(length - tile, 0) + 1, tile))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def unet_tile_sizes(tile_size: Size, depth: int, padding: str):
    """Input and output tile of overlap-tile inference with a UNet of ``depth`` levels.

    ``'valid'``: the output tile is the network's output for the input tile (paper: 572 -> 388;
    an input size the net does not accept raises with the nearest valid sizes). ``'same'``: the
    network keeps the size, but pixels near a tile's border see zero padding instead of image
    context, so only the centre is kept: a margin of a quarter tile (rounded down to even) on
    each side serves as context, as the valid net's lost border does.

    Returns ``((h_in, w_in), (h_out, w_out))``.
    """
    tile = pair(tile_size, "tile_size")
    out = unet_output_size(tile, depth, padding)
    if padding == "same":
        margin = tuple(((t // 4) // 2) * 2 for t in tile)
        out = tuple(t - 2 * m for t, m in zip(tile, margin))
    return tile, out


@torch.no_grad()
def overlap_tile_predict(
    forward: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    tile_in: Size,
    tile_out: Size,
    batch_tiles: int = 4,
) -> torch.Tensor:
    """Predict a full-size output for ``image`` with the overlap-tile strategy (paper Fig. 2).

    Args:
        forward: maps input tiles ``(B, C, *tile_in)`` to outputs ``(B, K, h, w)`` whose centre
            ``tile_out`` region corresponds to the centre of the input tile (a valid UNet gives
            exactly ``tile_out``; a 'same' network gives ``tile_in`` and the centre is kept).
        image: ``(N, C, H, W)``, any ``H, W >= 1``.
        tile_in: input tile size (a size the network accepts, e.g. 572 for the paper net).
        tile_out: the network's output size for ``tile_in`` (388 for the paper net).
        batch_tiles: tiles per forward call.

    Returns:
        ``(N, K, H, W)`` stitched outputs (logits as produced by ``forward``).
    """
    if image.dim() != 4:
        raise ValueError(f"overlap_tile_predict expects an (N, C, H, W) image, got shape {tuple(image.shape)}")
    (ih, iw), (oh, ow) = pair(tile_in, "tile_in"), pair(tile_out, "tile_out")
    if oh < 1 or ow < 1 or oh > ih or ow > iw or (ih - oh) % 2 or (iw - ow) % 2:
        raise ValueError(
            f"tile_out {(oh, ow)} must be positive, at most tile_in {(ih, iw)} and differ from it by "
            f"an even number (border lost on both sides)"
        )
    by, bx = (ih - oh) // 2, (iw - ow) // 2
    n, _, h, w = image.shape
    # extra padding (bottom/right) when the image is smaller than one output tile
    eh, ew = max(oh - h, 0), max(ow - w, 0)
    padded = mirror_pad(image, by, by + eh, bx, bx + ew)
    hh, ww = h + eh, w + ew
    ys, xs = _starts(hh, oh), _starts(ww, ow)
    boxes = [(y, x) for y in ys for x in xs]
    out = count = None
    for i in range(0, len(boxes), batch_tiles):
        chunk = boxes[i : i + batch_tiles]
        tiles = torch.cat([padded[..., y : y + ih, x : x + iw] for y, x in chunk], dim=0)
        pred = forward(tiles)
        if pred.dim() != 4 or pred.shape[0] != tiles.shape[0]:
            raise ValueError(f"forward returned shape {tuple(pred.shape)} for {tuple(tiles.shape)} tiles")
        if tuple(pred.shape[-2:]) != (oh, ow):
            ph, pw = pred.shape[-2:]
            if ph < oh or pw < ow or (ph - oh) % 2 or (pw - ow) % 2:
                raise ValueError(
                    f"forward returned {(ph, pw)} outputs for {(ih, iw)} tiles; expected tile_out "
                    f"{(oh, ow)} (or a larger centred output)"
                )
            pred = pred[..., (ph - oh) // 2 : (ph - oh) // 2 + oh, (pw - ow) // 2 : (pw - ow) // 2 + ow]
        if out is None:
            out = pred.new_zeros((n, pred.shape[1], hh, ww))
            count = pred.new_zeros((1, 1, hh, ww))
        for j, (y, x) in enumerate(chunk):
            out[..., y : y + oh, x : x + ow] += pred[j * n : (j + 1) * n]
            count[..., y : y + oh, x : x + ow] += 1
    return (out / count)[..., :h, :w]
