"""The int8 face detector: the faces float32 finds, a fallback when its file is damaged, and its build."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
from PIL import Image
from skimage import data

import fer.pipeline.faces
from fer.pipeline.faces import OUTPUTS, CenterFaceDetector, centerface_model, merge_output_heads
from fer.pipeline.tracking import box_iou
from tests.conftest import ROOT, tiny_onnx

sys.path.insert(0, str(ROOT / "scripts"))
import quantize_detector  # noqa: E402

PHOTOS = {
    "four_faces": np.asarray(Image.open(ROOT / "examples" / "four_faces.jpg").convert("RGB")),
    "tilted_face": np.asarray(Image.open(ROOT / "examples" / "tilted_face.jpg").convert("RGB")),
    "astronaut": data.astronaut(),
    "astronaut_odd_size": data.astronaut()[:301, 5:505],  # padded to 320 x 512 for the network
}


@pytest.mark.parametrize("name", PHOTOS)
def test_the_int8_detector_finds_the_faces_float32_finds_in_the_same_places(name):
    int8, float32 = CenterFaceDetector(), CenterFaceDetector(int8=False)
    assert (int8.precision, float32.precision) == ("int8", "float32")
    found, expected = int8.detect(PHOTOS[name]), float32.detect(PHOTOS[name])
    assert len(found) == len(expected) > 0
    overlaps = box_iou([face.box for face in expected], [face.box for face in found])
    assert (overlaps.max(axis=1) > 0.8).all()  # each float32 face has an int8 face in its place


def test_merging_the_output_heads_changes_no_output():
    import onnxruntime

    four_heads, merged = centerface_model(), merge_output_heads(centerface_model())
    assert len(merged.graph.node) == len(four_heads.graph.node) - 2  # four convolutions -> one and a Split
    blob = PHOTOS["four_faces"].transpose(2, 0, 1)[None].astype(np.float32)
    outputs = [
        onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            OUTPUTS, {"input.1": blob}
        )
        for model in (four_heads, merged)
    ]
    for before, after in zip(*outputs):
        assert np.array_equal(before, after)


def test_the_int8_detector_finds_nothing_in_a_picture_without_faces():
    assert CenterFaceDetector().detect(data.coffee()) == []


@pytest.mark.parametrize(
    "payload, reason",
    [
        (lambda: b"not an onnx file", "INVALID_PROTOBUF"),
        (lambda: tiny_onnx(channels=3, classes=7), "it has other inputs or outputs than CenterFace"),
    ],
)
def test_a_damaged_int8_detector_is_reported_in_one_sentence_and_float32_detects(
    tmp_path, monkeypatch, caplog, payload, reason
):
    damaged = tmp_path / "centerface_int8.onnx"
    damaged.write_bytes(payload())
    monkeypatch.setattr(fer.pipeline.faces, "INT8_GRAPH", damaged)
    with caplog.at_level(logging.WARNING, logger="fer.pipeline.faces"):
        detector = CenterFaceDetector()
    assert (detector.precision, detector.threshold) == ("float32", 0.5)
    [record] = caplog.records
    assert record.getMessage().startswith("detecting faces in float32: the int8 detector") and not record.exc_info
    assert reason in record.getMessage()
    assert len(detector.detect(PHOTOS["four_faces"])) == 4


def test_the_build_script_quantizes_a_detector_that_finds_the_faces(tmp_path, monkeypatch, fer_zip):
    """The script's path end to end, calibrated on 4 scenes of real faces instead of 24."""
    scenes = quantize_detector.calibration_scenes(str(fer_zip), faces=8)
    built = quantize_detector.quantize(scenes, tmp_path / "int8.onnx")
    monkeypatch.setattr(fer.pipeline.faces, "INT8_GRAPH", built)
    detector = CenterFaceDetector()
    assert detector.precision == "int8" and len(detector.detect(PHOTOS["four_faces"])) == 4
