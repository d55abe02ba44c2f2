"""SegNet's metrics (G, C, mIoU, BF) on hand-made label maps."""

import math

import numpy as np
import pytest

from segclassics.evaluation.seg_metrics import (
    SegNetMetrics,
    boundary_f1,
    boundary_f1_per_class,
    confusion_matrix,
    mask_contour,
    scores_from_confusion,
)


def test_global_class_average_and_miou_by_hand():
    gt = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])  # the prediction on the ignored pixel must not count
    s = scores_from_confusion(confusion_matrix(pred, gt, 3, 255))
    # 5 labelled pixels, 4 right
    assert s["global_acc"] == pytest.approx(4 / 5)
    # recall: class 0 1/2, class 1 2/2, class 2 1/1
    assert s["class_avg_acc"] == pytest.approx((1 / 2 + 1 + 1) / 3)
    # IoU: class 0 1/(1+0+1), class 1 2/(2+1+0), class 2 1/1
    assert s["mIoU"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)


def test_absent_class_is_left_out_of_the_averages():
    gt = np.array([[0, 0], [0, 0]])
    pred = np.array([[0, 0], [0, 0]])
    s = scores_from_confusion(confusion_matrix(pred, gt, 4, 255))
    assert s["class_avg_acc"] == 1.0 and s["mIoU"] == 1.0
    assert np.isnan(s["class_iou"][1:]).all()


def test_contour_is_4_connected_inner_border_without_image_frame():
    m = np.zeros((6, 6), bool)
    m[1:5, 1:5] = True
    c = mask_contour(m)
    assert c.sum() == 12 and not c[2:4, 2:4].any()
    full = np.ones((4, 4), bool)
    assert not mask_contour(full).any()  # the image frame is not a boundary


def test_boundary_f1_square_by_hand():
    # ground truth: class 1 is a 4x4 square (rows/cols 4..7) in a 12x12 class-0 image
    gt = np.zeros((12, 12), int)
    gt[4:8, 4:8] = 1
    # prediction: only the left half of the square (4 rows x 2 cols)
    pred = np.zeros((12, 12), int)
    pred[4:8, 4:6] = 1
    per_class = boundary_f1_per_class(pred, gt, 2, tolerance_px=0)
    # class 1: predicted contour = all 8 pixels of the 4x2 block, 6 of them on the true 12-pixel ring
    p1, r1 = 6 / 8, 6 / 12
    # class 0: true contour = 16 pixels around the square; predicted = 12 pixels around the block,
    # 8 of which (rows 3 and 8, column 3) are on the true contour
    p0, r0 = 8 / 12, 8 / 16

    def f(p, r):
        return 2 * p * r / (p + r)

    assert per_class[1] == pytest.approx(f(p1, r1))
    assert per_class[0] == pytest.approx(f(p0, r0))
    assert boundary_f1(pred, gt, 2, tolerance_px=0) == pytest.approx((f(p1, r1) + f(p0, r0)) / 2)


def test_boundary_f1_default_tolerance_is_075_percent_of_diagonal():
    h, w = 360, 480  # diagonal 600 -> tolerance 4.5 pixels
    gt = np.zeros((h, w), int)
    gt[:, 240:] = 1
    for shift, expected in ((0, 1.0), (4, 1.0), (5, 0.0)):
        pred = np.zeros((h, w), int)
        pred[:, 240 + shift :] = 1
        assert boundary_f1(pred, gt, 2) == pytest.approx(expected), shift
    assert 0.0075 * math.hypot(h, w) == pytest.approx(4.5)


def test_boundary_f1_missing_class_and_full_image():
    gt = np.zeros((8, 8), int)
    gt[:, 4:] = 1
    pred = np.zeros((8, 8), int)  # class 1 never predicted
    per_class = boundary_f1_per_class(pred, gt, 3, tolerance_px=1)
    assert per_class[1] == 0.0 and per_class[0] == 0.0 and np.isnan(per_class[2])
    full = np.zeros((8, 8), int)
    assert boundary_f1(full, full, 2) == 1.0  # no contour in either map


def test_boundary_f1_ignores_void_pixels_in_both_maps():
    gt = np.zeros((10, 10), int)
    gt[:, 5:] = 255
    pred = np.zeros((10, 10), int)
    pred[:, 5:] = 1  # whatever is predicted on void does not matter
    assert boundary_f1(pred, gt, 2, ignore_index=255, tolerance_px=0) == 1.0


def test_accumulator_in_percent_and_bf_mean_over_images():
    m = SegNetMetrics(num_classes=2, ignore_index=255)
    gt = np.zeros((12, 12), int)
    gt[4:8, 4:8] = 1
    m.update(gt, gt)
    pred = np.zeros((12, 12), int)
    m.update(pred, gt)  # class 1 missed: BF of this image = mean(F1 class 0 = 0, class 1 = 0)
    out = m.compute()
    assert out["BF"] == pytest.approx(50.0)
    assert out["G"] == pytest.approx(100 * (144 + 128) / 288)
    other = SegNetMetrics(num_classes=2).merge([m])
    assert other.compute()["G"] == pytest.approx(out["G"])


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="differ in size.*img7"):
        confusion_matrix(np.zeros((2, 3)), np.zeros((3, 2)), 2, name="img7")
    with pytest.raises(ValueError, match=r"label values \[5\] in a.png are outside 0..2"):
        confusion_matrix(np.zeros((2, 2)), np.full((2, 2), 5), 3, name="a.png")
    with pytest.raises(ValueError, match="predicted values"):
        confusion_matrix(np.full((2, 2), 9), np.zeros((2, 2)), 3)
    with pytest.raises(ValueError, match="2-D"):
        boundary_f1(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), 2)
