"""int8 answers the same on every CPU: the sessions we open compute uint8 x int8 exactly."""

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from fer.app.served import served_models, video_detector
from fer.model.onnx_sessions import EXACT_INT8, session_options
from fer.pipeline.faces import CenterFaceDetector
from fer.pipeline.predict import Predictor

CHANNELS = 64
EXACT_OUTPUT = 200


def _saturating_conv() -> bytes:
    """A 1x1 QLinearConv over 64 channels of 255 x 127, scaled so the exact answer is 200.

    Without VNNI, onnxruntime's default kernel adds the products in pairs in 16 bits, and each
    pair (2 x 255 x 127 = 64,770) saturates at 32,767: it answers 101.
    """
    exact_sum = 255 * 127 * CHANNELS
    constants = {
        "x_scale": np.array(1.0, np.float32),
        "x_zero": np.array(0, np.uint8),
        "w": np.full((1, CHANNELS, 1, 1), 127, np.int8),
        "w_scale": np.array(1.0, np.float32),
        "w_zero": np.array(0, np.int8),
        "y_scale": np.array(exact_sum / EXACT_OUTPUT, np.float32),
        "y_zero": np.array(0, np.uint8),
    }
    node = helper.make_node("QLinearConv", ["x", *constants], ["y"])
    graph = helper.make_graph(
        [node],
        "saturation",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, CHANNELS, 1, 1])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 1, 1, 1])],
        [numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_our_sessions_compute_uint8_times_int8_exactly_on_this_cpu():
    session = ort.InferenceSession(_saturating_conv(), session_options(), providers=["CPUExecutionProvider"])
    pixels = np.full((1, CHANNELS, 1, 1), 255, np.uint8)
    assert int(session.run(None, {"x": pixels})[0].item()) == EXACT_OUTPUT


def _carries_exact_int8(session: ort.InferenceSession) -> bool:
    key, value = EXACT_INT8
    return session.get_session_options().get_session_config_entry(key) == value


def test_every_served_session_carries_the_exact_int8_option():
    """The photo, Live and video detectors, a batch worker's, and the served int8 classifier."""
    predictor = Predictor()
    assert predictor.serving == "onnxruntime, int8"
    detectors = [predictor.detector, served_models().live_detector, video_detector(), CenterFaceDetector(threads=1)]
    assert all(detector.precision == "int8" for detector in detectors)
    sessions = [predictor.onnx.session, *(detector.session for detector in detectors)]
    assert all(_carries_exact_int8(session) for session in sessions)
