"""ISBI 2012 warping error (Jain et al. 2010; Arganda-Carreras et al. 2015): the simple-point table,
the topology-preserving warp and the error on hand-made cell/membrane maps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from segclassics.evaluation.binary import (
    BinarySegAccumulator,
    neighbourhood,
    pixel_error,
    simple_point_table,
    topology_preserving_warp,
    warping_error,
)

CELLS_4 = ndimage.generate_binary_structure(2, 1)
MEMBRANE_8 = ndimage.generate_binary_structure(2, 2)


def cells(*rows: str) -> np.ndarray:
    """'.' cell interior (True, ISBI class 1), '#' membrane."""
    return np.array([[ch == "." for ch in row] for row in rows])


# one 8x10 cell inside a membrane frame (10x12, N = 120 pixels)
ONE_CELL = cells(
    "############",
    "#..........#",
    "#..........#",
    "#..........#",
    "#..........#",
    "#..........#",
    "#..........#",
    "#..........#",
    "#..........#",
    "############",
)
N = ONE_CELL.size
# the same cell cut in two by a membrane line across it (10 pixels)
TWO_CELLS = ONE_CELL.copy()
TWO_CELLS[4, 1:11] = False


def topology(a: np.ndarray):
    """(4-components of the cells, 8-components of the membrane) with the membrane frame around the
    image that the warp assumes."""
    framed = np.pad(a, 1, constant_values=False)
    return ndimage.label(framed, CELLS_4)[1], ndimage.label(~framed, MEMBRANE_8)[1]


def flip_keeps_window_topology(patch: np.ndarray) -> bool:
    """Brute force: flipping the centre of the lone 3x3 window changes neither the number of its
    4-connected cell components nor of its 8-connected membrane components."""
    flipped = patch.copy()
    flipped[1, 1] = ~flipped[1, 1]
    return topology_counts(patch) == topology_counts(flipped)


def topology_counts(window: np.ndarray):
    return ndimage.label(window, CELLS_4)[1], ndimage.label(~window, MEMBRANE_8)[1]


def test_simple_point_table_equals_the_brute_force_definition_for_every_neighbourhood():
    table = simple_point_table()
    assert table.shape == (512,) and table.dtype == bool
    brute = np.array([flip_keeps_window_topology(neighbourhood(code)) for code in range(512)])
    assert np.array_equal(table, brute)
    assert table.sum() == 232

    # the classic cases: the end of a cell line is simple, its middle (a flip would cut it) is not,
    # nor an interior cell pixel (a flip would make a hole) or a lone cell pixel (a flip deletes it)
    def code(*rows):
        return int(sum(1 << k for k, v in enumerate(cells(*rows).ravel()) if v))

    assert not table[code("###", "...", "###")]
    assert table[code("###", "..#", "###")]
    assert not table[code("...", "...", "...")]
    assert not table[code("###", "#.#", "###")]


def test_identical_maps_have_no_warping_error():
    assert warping_error(ONE_CELL, ONE_CELL) == 0.0
    assert warping_error(TWO_CELLS, TWO_CELLS) == 0.0


def test_a_shifted_boundary_and_bumps_warp_away():
    left = TWO_CELLS.T.copy()  # 12x10: the dividing line is column 4 (rows 1-10)
    right = np.roll(left, 1, axis=1)  # the frame moves too: rebuild it
    right[:, 0] = right[:, -1] = False
    right[:, 1] = True
    right[0, :] = right[-1, :] = False
    assert topology(right) == topology(left)
    assert pixel_error(right, left) == pytest.approx(2 * 10 / left.size)  # the old and the new line
    assert warping_error(right, left) == 0.0
    inward = ONE_CELL.copy()
    inward[1, 5] = False  # a membrane bump into the cell
    outward = ONE_CELL.copy()
    outward[0, 5] = True  # the cell bulges into the frame (and to the image's edge)
    for bumped in (inward, outward):
        assert pixel_error(bumped, ONE_CELL) == pytest.approx(1 / N)
        assert warping_error(bumped, ONE_CELL) == 0.0


def test_a_split_leaves_the_pixels_that_would_cut_the_true_cell():
    # the true cell's pixels under the predicted line turn to membrane from the walls in; the last
    # one would cut the cell in two, so it stays: 1 pixel of 10 (2 for a line 2 pixels thick)
    assert pixel_error(TWO_CELLS, ONE_CELL) == pytest.approx(10 / N)
    assert warping_error(TWO_CELLS, ONE_CELL) == pytest.approx(1 / N)
    thick = TWO_CELLS.copy()
    thick[5, 1:11] = False
    assert warping_error(thick, ONE_CELL) == pytest.approx(2 / N)


def test_a_merge_leaves_the_whole_missing_membrane():
    # each pixel of the true line joins the two true cells when it turns to cell: none can flip
    assert warping_error(ONE_CELL, TWO_CELLS) == pytest.approx(10 / N)


def test_holes_added_and_filled():
    holed = ONE_CELL.copy()
    holed[3:5, 4:6] = False  # a 2x2 membrane hole inside the cell
    # a predicted hole: no true cell pixel there can start a new membrane component
    assert warping_error(holed, ONE_CELL) == pytest.approx(4 / N)
    # a true hole the prediction fills: it shrinks to its last pixel, which cannot go
    assert warping_error(ONE_CELL, holed) == pytest.approx(1 / N)


def test_a_missing_or_an_extra_cell():
    empty = np.zeros_like(ONE_CELL)
    assert warping_error(empty, ONE_CELL) == pytest.approx(1 / N)  # the true cell shrinks to one pixel
    assert warping_error(ONE_CELL, empty) == pytest.approx(80 / N)  # no cell can appear from nothing
    island = ONE_CELL.copy()
    island[2:5, 2:5] = False
    island[3, 3] = True  # a one-pixel cell in a ring of 8 membrane pixels inside the big cell
    assert pixel_error(island, ONE_CELL) == pytest.approx(8 / N)
    # predicted: the ring cannot start in the true cell (each pixel would open a hole)
    assert warping_error(island, ONE_CELL) == pytest.approx(8 / N)
    # true: the ring's corners can turn to cell (the island stays cut off: cells are 4-connected),
    # its 4 edge pixels cannot (each would join the island to the big cell)
    assert warping_error(ONE_CELL, island) == pytest.approx(4 / N)


def test_the_mask_leaves_pixels_out_of_the_count():
    mask = np.ones_like(ONE_CELL)
    mask[-1] = False  # the frame's last row
    assert warping_error(TWO_CELLS, ONE_CELL, mask) == pytest.approx(1 / (N - 12))
    assert np.isnan(warping_error(TWO_CELLS, ONE_CELL, np.zeros_like(mask)))


def test_bad_input_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"pred must be binary 0/1 \(or bool\), found values \[0, 1, 2\]"):
        warping_error(np.array([[0, 1, 2]]), np.array([[0, 1, 1]]))
    with pytest.raises(ValueError, match=r"prediction shape \(1, 3\) != target shape \(3, 1\)"):
        warping_error(np.zeros((1, 3)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"warping needs two 2-D maps of one shape, got \(2, 3, 3\)"):
        warping_error(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)))


def test_accumulator_reports_the_mean_warping_error_over_images():
    acc = BinarySegAccumulator(warping=True)
    acc.update(TWO_CELLS, ONE_CELL)
    acc.update(ONE_CELL, ONE_CELL)
    assert acc.compute()["warping_error"] == pytest.approx((1 / N + 0) / 2)
    assert "warping_error" not in BinarySegAccumulator().compute()


_maps = hnp.arrays(bool, st.tuples(st.integers(1, 9), st.integers(1, 9)))


@pytest.mark.property
@settings(deadline=None)  # a shared CPU: the time of one example says nothing
@given(data=st.data(), target=_maps)
def test_property_the_warp_keeps_the_topology_and_stops_where_no_flip_is_simple(data, target):
    pred = data.draw(hnp.arrays(bool, target.shape))
    warped = topology_preserving_warp(target, pred)
    assert topology(warped) == topology(target)
    assert not (warped != target)[pred == target].any()  # only disagreeing pixels flip
    framed = np.pad(warped, 1, constant_values=False)
    for y, x in zip(*np.nonzero(warped != pred)):  # none of what is left could flip
        assert not flip_keeps_window_topology(framed[y : y + 3, x : x + 3])
    err = warping_error(pred, target)
    assert err == np.count_nonzero(warped != pred) / pred.size
    assert 0.0 <= err <= pixel_error(pred, target)
    assert warping_error(target, target) == 0.0
