import numpy as np
import pytest

from train.metrics import classification_report, confusion_matrix, summarize


def test_confusion_matrix_rows_are_truth_columns_predictions():
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_summary_against_hand_computed_values():
    # truth:      a a a a b b c c c c
    # prediction: a a a b b c c c a a
    matrix = confusion_matrix([0, 0, 0, 0, 1, 1, 2, 2, 2, 2], [0, 0, 0, 1, 1, 2, 2, 2, 0, 0], 3)
    s = summarize(matrix, ["a", "b", "c"])
    assert s["accuracy"] == pytest.approx(6 / 10)
    # a: precision 3/5, recall 3/4 -> f1 = 2*0.6*0.75/1.35 = 2/3
    assert s["per_class"]["a"] == pytest.approx({"precision": 0.6, "recall": 0.75, "f1": 2 / 3, "support": 4})
    # b: precision 1/2, recall 1/2 -> f1 1/2
    assert s["per_class"]["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    # c: precision 2/3, recall 2/4 -> f1 = 2*(2/3)*(1/2)/(7/6) = 4/7
    assert s["per_class"]["c"] == pytest.approx({"precision": 2 / 3, "recall": 0.5, "f1": 4 / 7, "support": 4})
    assert s["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 4 / 7) / 3)


def test_class_never_predicted_or_absent_gets_zero_not_nan():
    s = summarize(np.array([[2, 0], [0, 0]]), ["x", "y"])
    assert s["per_class"]["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert s["macro_f1"] == pytest.approx(0.5)


def test_report_lists_every_class_and_the_totals():
    s = summarize(confusion_matrix([0, 1, 1], [0, 1, 0], 2), ["happy", "sad"])
    report = classification_report(s)
    assert "happy" in report and "sad" in report
    assert "accuracy" in report and "0.6667" in report


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix([0, 1], [0], 2)
