"""The real app on 127.0.0.1, called with the real gradio_client."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from skimage import data

from fer.app import limits
from fer.model.labels import CLASS_NAMES
from scripts import api_example
from tests.app_server import running_app
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def client(app_server) -> Client:
    return Client(app_server.url, verbose=False)


def write(tmp_path: Path, name: str, payload: bytes | Image.Image, **save) -> str:
    path = tmp_path / name
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        payload.save(path, **save)
    return str(path)


def test_only_the_two_typed_endpoints_are_public(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/predict", "/predict_video"]
    photo, video = endpoints["/predict"], endpoints["/predict_video"]
    assert [p["parameter_name"] for p in photo["parameters"]] == ["image", "top_k", "model"]
    assert [p["parameter_name"] for p in video["parameters"]] == ["video", "model"]
    assert photo["parameters"][1]["type"] == {"type": "integer"} and photo["parameters"][1]["parameter_default"] == 3
    assert photo["parameters"][2]["type"] == {"type": "string"} and photo["parameters"][2]["parameter_default"] == ""
    returned = photo["returns"][0]["python_type"]["type"]
    assert returned.startswith("dict(model: str, faces: list[dict(box: list[int], detected: bool, uncertain: bool")
    assert "people: list[int]" in video["returns"][0]["python_type"]["type"]


def test_predict_returns_the_json_contract(client):
    result = client.predict(handle_file(str(ROOT / "examples" / "four_faces.jpg")), 2, api_name="/predict")
    assert result["model"] == "fernet_s"
    assert len(result["faces"]) == 4
    for face in result["faces"]:
        assert set(face) == {"box", "detected", "uncertain", "scores", "top_k"}
        assert face["detected"] is True
        x, y, w, h = face["box"]
        assert 0 <= x < 640 and 0 <= y < 480 and w > 10 and h > 10
        assert list(face["scores"]) == list(CLASS_NAMES)
        assert sum(face["scores"].values()) == pytest.approx(1.0, abs=1e-4)
        assert len(face["top_k"]) == 2
        assert face["top_k"][0]["score"] >= face["top_k"][1]["score"]
        assert face["top_k"][0]["label"] == max(face["scores"], key=face["scores"].get)


def test_the_page_served_over_http2_answers_as_app_py_serves_it(client):
    """scripts/bench_web.py times server Live over HTTP/2 too (tests/http2_app.py): the same page,
    queued and served with app.py's options, must answer there."""
    photo = handle_file(str(ROOT / "examples" / "four_faces.jpg"))
    with running_app(http2=True) as server:
        with httpx.Client(http2=True, verify=server.ssl_context) as http:
            page = http.get(server.url)
        assert page.http_version == "HTTP/2" and page.headers["cross-origin-embedder-policy"] == "credentialless"
        over_http2 = Client(server.url, verbose=False, ssl_verify=False).predict(photo, 2, api_name="/predict")
    assert over_http2 == client.predict(photo, 2, api_name="/predict")


def test_no_face_is_flagged(client):
    result = client.predict(handle_file(str(ROOT / "examples" / "no_face.jpg")), 3, api_name="/predict")
    assert [f["detected"] for f in result["faces"]] == [False]
    assert result["faces"][0]["box"] == [0, 0, 600, 400]


def test_top_k_is_clamped(client):
    path = str(ROOT / "examples" / "one_face.jpg")
    assert len(client.predict(handle_file(path), 99, api_name="/predict")["faces"][0]["top_k"]) == 7
    assert len(client.predict(handle_file(path), 0, api_name="/predict")["faces"][0]["top_k"]) == 1


def huge_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, format="PNG")
    return buffer.getvalue()


BAD_INPUTS = {
    "not_an_image.jpg": (b"hello, this is text", "not a format we recognise"),
    "truncated.jpg": (None, "not a readable image"),
    "huge.png": (None, "more than the 50,000,000"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_files_get_a_clear_message_and_the_server_keeps_serving(client, tmp_path, name):
    payload, message = BAD_INPUTS[name]
    if name == "truncated.jpg":
        buffer = io.BytesIO()
        Image.fromarray(data.astronaut()).save(buffer, format="JPEG")
        payload = buffer.getvalue()[:3000]
    elif name == "huge.png":
        payload = huge_png()
    with pytest.raises(AppError, match=message) as refused:
        client.predict(handle_file(write(tmp_path, name, payload)), 3, api_name="/predict")
    assert "/tmp" not in str(refused.value)  # the message never names a server path
    after = client.predict(handle_file(str(ROOT / "examples" / "one_face.jpg")), 1, api_name="/predict")
    assert after["faces"][0]["detected"]


@pytest.mark.parametrize(
    "name, make, detected",
    [
        ("tiny.png", lambda: Image.new("RGB", (8, 8), (200, 160, 120)), False),
        ("rgba.png", lambda: Image.fromarray(data.astronaut()).convert("RGBA"), True),
        ("palette.png", lambda: Image.fromarray(data.astronaut()).convert("P"), True),
        ("cmyk.jpg", lambda: Image.fromarray(data.astronaut()).convert("CMYK"), True),
        ("sixteen_bit.png", lambda: Image.fromarray(np.asarray(data.astronaut()[..., 0], dtype=np.uint16) * 257), True),
    ],
)
def test_awkward_images_get_a_correct_answer(client, tmp_path, name, make, detected):
    result = client.predict(handle_file(write(tmp_path, name, make())), 3, api_name="/predict")
    assert [f["detected"] for f in result["faces"]] == [detected]


def test_exif_rotated_and_animated_images(client, tmp_path):
    photo = Image.fromarray(data.astronaut())
    exif = Image.Exif()
    exif[0x0112] = 6
    path = write(tmp_path, "sideways.jpg", photo.rotate(90, expand=True), exif=exif.tobytes())
    box = client.predict(handle_file(path), 1, api_name="/predict")["faces"][0]["box"]
    assert 160 < box[0] < 200 and 40 < box[1] < 80
    frames = [photo.convert("P"), Image.fromarray(data.coffee()).convert("P")]
    gif = write(tmp_path, "animated.gif", frames[0], save_all=True, append_images=frames[1:], duration=100)
    assert client.predict(handle_file(gif), 1, api_name="/predict")["faces"][0]["detected"]


def test_page_shows_the_model_facts(app_server):
    with urllib.request.urlopen(app_server.url + "config") as response:
        config = json.loads(response.read())
    texts = [c.get("props", {}).get("value") for c in config["components"]]
    facts = next(t for t in texts if isinstance(t, str) and "**Model:**" in t)
    assert "fernet_s" in facts and "validation accuracy" in facts and "Disgust" in facts
    assert "served with onnxruntime, int8" in facts and "validation as served" in facts
    about = next(t for t in texts if isinstance(t, str) and "**Expressions are not emotions.**" in t)
    assert "validation faces" in about and "weakest classes are" in about and "deleted within 15 minutes" in about
    stated = next(t for t in texts if isinstance(t, str) and "megapixels" in t)
    assert f"{limits.MAX_UPLOAD_MB} MB" in stated and "deleted" in stated


def test_the_app_answers_without_loading_torch_or_pyplot():
    """Served by onnxruntime; torch (700 MB) comes only with a heatmap. Nor pyplot, which Gradio's
    backend check around every event imports unless the backend is named: 0.35 s of the first
    answer (its _image module is what pyplot alone loads). A fresh app of its own: the shared one
    may have drawn heatmaps or a video's timeline for the tests that ran before this one."""
    with running_app() as server:
        client = Client(server.url, verbose=False)
        assert client.predict(handle_file(str(ROOT / "examples" / "one_face.jpg")), 1, api_name="/predict")["faces"]
        assert server.has_mapped("onnxruntime") and not server.has_mapped("libtorch")
        assert server.has_mapped("matplotlib/ft2font") and not server.has_mapped("matplotlib/_image")


def test_unreachable_fer_model_falls_back_visibly(tmp_path):
    env = {"FER_MODEL": str(tmp_path / "no-such-checkpoint"), "HF_HUB_OFFLINE": "1"}
    with running_app(env=env) as server:
        with urllib.request.urlopen(server.url + "config") as response:
            page = response.read().decode()
        assert "serving the embedded model instead" in page
        result = Client(server.url, verbose=False).predict(
            handle_file(str(ROOT / "examples" / "one_face.jpg")), 1, api_name="/predict"
        )
        assert result["model"] == "fernet_s"


def test_a_refused_input_is_logged_in_one_line_without_a_traceback(client, app_server, tmp_path):
    logged_before = len(app_server.log())
    with pytest.raises(AppError, match="not a format we recognise"):
        client.predict(handle_file(write(tmp_path, "notes.jpg", b"plain text")), 1, api_name="/predict")
    new_lines = app_server.log()[logged_before:]
    assert "refused notes.jpg: not a readable image" in new_lines
    assert "Traceback" not in new_lines


@pytest.mark.parametrize("top_k", ["three", "nan", [3]])
def test_a_top_k_that_is_not_a_number_is_refused_in_one_logged_line(client, app_server, top_k):
    logged_before = len(app_server.log())
    with pytest.raises(AppError, match="give a whole number from 1 to 7"):
        client.predict(handle_file(str(ROOT / "examples" / "one_face.jpg")), top_k, api_name="/predict")
    new_lines = app_server.log()[logged_before:]
    assert "refused top_k" in new_lines and "Traceback" not in new_lines


def test_decompression_bombs_cost_little_memory(client, app_server, tmp_path):
    """8 concurrent 50-megapixel PNGs of 6 KB each: decoded once, reduced, never multiplied."""
    bomb = write(tmp_path, "bomb.png", Image.new("1", (7071, 7071)))
    client.predict(handle_file(str(ROOT / "examples" / "one_face.jpg")), 1, api_name="/predict")  # warm
    app_server.reset_peak_memory()
    before = app_server.memory_mb()["rss"]
    jobs = [client.submit(handle_file(bomb), 1, api_name="/predict") for _ in range(8)]
    assert all(job.result(timeout=120)["faces"][0]["box"] == [0, 0, 7071, 7071] for job in jobs)
    # Before the fix each one held about 680 MB, and 8 at once reached 4 GB.
    assert app_server.memory_mb()["hwm"] - before < 450


def test_uploads_over_the_limit_are_refused_by_the_server(app_server):
    assert app_server.upload(1000)[0] == 200
    assert app_server.upload((limits.MAX_UPLOAD_MB + 1) * 2**20)[0] in (413, None)  # None: cut off mid-upload
    assert app_server.upload(1000)[0] == 200  # and it goes on serving


def call_predict(url: str, path: str) -> str:
    """/predict over plain HTTP with a server-side path, as a hand-made client might send it."""
    return call_predict_raw(url, [{"path": path, "meta": {"_type": "gradio.FileData"}}, 1, ""])


def call_predict_raw(url: str, values: list) -> str:
    """/predict over plain HTTP with these values: the answer's event stream, as text."""
    body = json.dumps({"data": values}).encode()
    request = urllib.request.Request(
        url + "gradio_api/call/predict", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/predict/{event_id}", timeout=60) as response:
        return response.read().decode()


@pytest.mark.parametrize(
    "filename", ["", ".", "../../../etc/passwd.jpg", "name with spaces ü ☺.jpg", "a" * 300 + ".jpg"]
)
def test_odd_upload_filenames_are_stored_safely_and_answered(app_server, filename):
    status, body = app_server.upload((ROOT / "examples" / "one_face.jpg").read_bytes(), filename)
    assert status == 200
    stored = Path(json.loads(body)[0])
    assert "etc" not in stored.parts[:-1] and len(stored.name) <= 255
    assert '"detected": true' in call_predict(app_server.url, str(stored))


@pytest.mark.parametrize(
    ("values", "sentence"),
    [
        ([], "it sends 0 of the 3 values it needs"),
        ([{"path": 5}, 1, ""], "upload an image"),
        ([1, 2, 3, 4, 5], "upload an image"),
    ],
)
def test_a_malformed_raw_call_is_refused_in_one_logged_line(app_server, values, sentence):
    logged_before = len(app_server.log())
    answer = call_predict_raw(app_server.url, values)
    assert answer.startswith("event: error") and sentence in answer
    new_lines = app_server.log()[logged_before:]
    assert "refused" in new_lines and "Traceback" not in new_lines


@pytest.mark.parametrize("path", ["", ".", "/etc/passwd"])
def test_a_path_that_was_never_uploaded_is_refused_in_one_logged_line(app_server, path):
    logged_before = len(app_server.log())
    answer = call_predict(app_server.url, path)
    assert answer.startswith("event: error") and "it was not uploaded to this app" in answer
    assert "/work" not in answer and "passwd" not in answer
    new_lines = app_server.log()[logged_before:]
    assert "refused a file path: it was not uploaded to this app" in new_lines
    assert "Traceback" not in new_lines and "passwd" not in new_lines


def test_the_page_and_device_lives_scripts_are_served_cross_origin_isolated(app_server):
    """COOP, COEP and Document-Isolation-Policy on every response, so device Live's models may use
    threads (fer.app.isolation); credentialless, so cross-origin images linked from the page still load."""
    worker = app_server.url + "gradio_api/file=" + str(ROOT / "web" / "fer" / "worker.js")
    for url in (app_server.url, worker):
        with urllib.request.urlopen(url) as response:
            assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert response.headers["Cross-Origin-Embedder-Policy"] == "credentialless"
            assert response.headers["Document-Isolation-Policy"] == "isolate-and-credentialless"


@pytest.mark.parametrize("path", ["monitoring", "monitoring/summary"])
def test_monitoring_is_not_served(app_server, path):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(app_server.url + path)
    assert refused.value.code == 403


def test_the_readme_shows_what_predict_really_returns(app_server):
    shown = api_example.shown_in_readme()
    answer = api_example.rounded(api_example.call_example(app_server.url))
    assert answer["model"] == shown["model"]
    assert [face["box"] for face in answer["faces"]] == [face["box"] for face in shown["faces"]]
    for got, documented in zip(answer["faces"], shown["faces"]):
        assert [t["label"] for t in got["top_k"]] == [t["label"] for t in documented["top_k"]]
        # int8 kernels may round differently on another CPU: scores agree to a hundredth.
        assert all(abs(got["scores"][k] - v) <= 0.01 for k, v in documented["scores"].items())
