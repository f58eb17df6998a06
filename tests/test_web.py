"""The on-device page (web/) in Debian's Chromium: parity with the Python pipeline, bad conditions,
the static Space's contents and its push to the (local) Hub.

One static build and one file server for the whole module, one Chromium with a fake camera for the
tests that need a working page; the Gradio app's device Live is tested in test_browser.py.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer.app.live import detect_keyframe
from fer.device.runtime_files import INTEGRITY, RuntimeFilesError, integrity_of
from fer.pipeline.faces import CenterFaceDetector
from fer.pipeline.live import WHOLE_LOOK_EVERY, LiveState
from fer.pipeline.predict import Predictor
from tests.chromium import face_camera, launch
from tests.conftest import ROOT
from tests.web_parity import (
    BOX_TOLERANCE_PX,
    PROBABILITY_TOLERANCE,
    analyse_in_page,
    decode_in_page,
    describe_in_page,
    match_faces,
    png_base64,
    serve_folder,
    validation_scenes,
)

pytestmark = pytest.mark.browser
EXAMPLES = sorted((ROOT / "examples").glob("*.jpg"))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """``python scripts/build_web.py OUT`` on the embedded model."""
    from scripts.build_web import main

    out = tmp_path_factory.mktemp("site")
    try:
        main([str(out)])
    except RuntimeFilesError as exc:
        pytest.skip(f"onnxruntime-web could not be fetched from the npm registry: {exc}")
    return out


@pytest.fixture(scope="module")
def site_url(site):
    server, url = serve_folder(site)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def camera_browser(playwright, tmp_path_factory):
    """The module's Chromium: its fake camera shows a still face (the same clip as test_browser's)."""
    with launch(playwright, face_camera(tmp_path_factory.mktemp("camera") / "face.y4m")) as browser:
        yield browser


@pytest.fixture(scope="module")
def page(camera_browser, site_url):
    """The page, loaded and ready (both models in its worker)."""
    with camera_browser.new_context(permissions=["camera"]) as context:
        page = context.new_page()
        page.goto(site_url, wait_until="domcontentloaded")
        page.wait_for_function("() => window.fer.analyse || window.fer.error", timeout=60_000)
        assert page.evaluate("() => window.fer.error") is None
        yield page


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


def test_the_build_is_a_static_space_with_the_page_both_models_and_the_pinned_runtime(site):
    names = {str(path.relative_to(site)) for path in site.rglob("*") if path.is_file()}
    assert {
        "index.html",
        "config.json",
        "README.md",
        "CREDITS.md",
        "style.css",
        "fer/page.js",
        "fer/worker.js",
    } <= names
    assert {"models/centerface_int8.onnx", "models/model_int8.onnx"} <= names
    assert not any("node_modules" in name for name in names)
    readme = (site / "README.md").read_text()
    front = readme.split("---")[1]
    assert "sdk: static" in front and "app_file: index.html" in front
    assert "71.0% validation" in readme and "never leave your device" in readme
    config = json.loads((site / "config.json").read_text())
    for key in ("module", "wasm"):
        path = site / config["runtime"][key]
        assert integrity_of(path.read_bytes()) == config["runtime"]["integrity"][key] == INTEGRITY[path.name]
    assert config["model"]["uncertain_below"] == 0.55 and config["model"]["labels"][3] == "happy"
    served = (ROOT / "checkpoints" / "fernet_s" / "model_int8.onnx").read_bytes()
    assert (site / "models" / "model_int8.onnx").read_bytes() == served


def test_an_earlier_build_is_rebuilt_in_place(site, tmp_path):
    """A Space's clone holds an earlier build (and its .git): building into it again is allowed."""
    from scripts.build_web import main

    clone = shutil.copytree(site, tmp_path / "space")
    (clone / ".gitattributes").write_text("*.onnx filter=lfs\n")
    (clone / "config.json").write_text((site / "config.json").read_text().replace("fernet_s", "older"))
    main([str(clone)])
    assert (clone / "config.json").read_bytes() == (site / "config.json").read_bytes()
    assert (clone / ".gitattributes").read_text() == "*.onnx filter=lfs\n"


def test_a_model_served_with_torch_stays_on_the_server():
    """No ONNX export to run (FER_ONNX=0, or an export that failed): device Live is not offered for it."""
    from fer.device.bundle import device_model_file

    assert device_model_file(Predictor(use_onnx=False)) is None
    assert device_model_file(Predictor()).name == "model_int8.onnx"


def test_a_checkpoint_without_an_int8_export_is_refused_in_one_sentence(tmp_path):
    from scripts.build_web import main

    checkpoint = tmp_path / "no_int8"
    checkpoint.mkdir()
    for name in ("config.json", "model.safetensors", "metrics.json"):
        (checkpoint / name).write_bytes((ROOT / "checkpoints" / "fernet_s" / name).read_bytes())
    with pytest.raises(ValueError, match="no int8 ONNX export the device can run"):
        main([str(tmp_path / "out"), "--checkpoint", str(checkpoint)])


def test_the_browser_finds_the_same_faces_as_python_on_the_examples(page, predictor):
    """The same faces with boxes within 2 px, scores within 2e-3 and the same uncertain marks, as
    /predict's; given the same detections, the same crops (Pillow's arithmetic, ported)."""
    for path in EXAMPLES:
        image = Image.open(path).convert("RGB")
        theirs = analyse_in_page(page, image)
        assert theirs["model"] == "fernet_s"
        assert_same_answer(predictor, image, theirs["faces"], path.name)
        assert_same_crops_for_the_same_detections(page, predictor, image)


def assert_same_answer(predictor: Predictor, image: Image.Image, theirs: list[dict], name: str) -> None:
    """The page's faces against ``Predictor.predict``'s, within the issue's tolerances."""
    ours = [face.as_json(3) for face in predictor.predict(image)]
    assert [f["detected"] for f in ours] == [f["detected"] for f in theirs], name
    pairs = match_faces(ours, theirs)
    assert len(pairs) == len(ours) == len(theirs), name
    for server_face, device_face in pairs:
        gap = np.abs(np.subtract(server_face["box"], device_face["box"])).max()
        assert gap <= BOX_TOLERANCE_PX, (name, server_face["box"], device_face["box"])
        for label, score in server_face["scores"].items():
            assert abs(score - device_face["scores"][label]) <= PROBABILITY_TOLERANCE, (name, label)
        assert server_face["uncertain"] == device_face["uncertain"], name


def assert_same_crops_for_the_same_detections(page, predictor: Predictor, image: Image.Image) -> None:
    rgb = np.asarray(image)
    faces = predictor.detector.detect(rgb)
    ours = predictor.predict(image)
    theirs = describe_in_page(page, image, faces)
    for server_face, device_face in zip(ours, theirs):
        assert server_face.box == tuple(device_face["box"])
        assert np.array_equal(server_face.crop.ravel(), device_face["crop"])


def test_the_browser_matches_python_on_200_validation_faces_in_scenes(page, predictor, validation_faces):
    """Validation faces pasted into 640x480 scenes (as bench_app.py does): every face as the
    examples' are. The detector adds in float32 so that both onnxruntimes agree to the bit
    (scripts/quantize_detector.py, float_adds); with its fused int8 Adds, one face in 30 moved by
    more than 2 px."""
    for number, scene in enumerate(validation_scenes(validation_faces, 200)):  # 4 faces a scene
        assert_same_answer(predictor, scene, analyse_in_page(page, scene)["faces"], f"scene {number}")
        if number % 5 == 0:
            assert_same_crops_for_the_same_detections(page, predictor, scene)


# The trace's analysed frames, with what the page did with them, for Python to hold them to.
READ_TRACE = """() => window.fer.live.trace.map(({ frame, people, faces, lookedFor }) => ({
    width: frame.width, height: frame.height, people, lookedFor,
    labels: faces.map((face) => Object.entries(face.scores).reduce((a, b) => (b[1] > a[1] ? b : a))[0]),
    pixels: btoa(Array.from(frame.data, (v) => String.fromCharCode(v)).join('')),
}))"""


def assert_python_live_agrees(trace: list[dict]) -> None:
    """The trace's frames run through the Python Live (fer.app.live.detect_keyframe with Live's 320 px
    detector): the same looks (around the faces, or whole), people and smoothed labels, frame by frame."""
    live_predictor = Predictor(detector=CenterFaceDetector(max_side=320))
    state = LiveState()
    for number, step in enumerate(trace):
        rgba = np.frombuffer(base64.b64decode(step["pixels"]), np.uint8).reshape(step["height"], step["width"], 4)
        keyframe = detect_keyframe(Image.fromarray(rgba[..., :3].copy()), state, live_predictor)
        assert state.looked_for == step["lookedFor"], f"analysis {number}"
        assert keyframe.people == step["people"], f"analysis {number}"
        assert [face.top_k(1)[0]["label"] for face in keyframe.faces] == step["labels"], f"analysis {number}"


def test_live_on_the_fake_camera_numbers_and_labels_people_as_fer_live_does(page):
    """The device's Live on the fake camera, its analysed frames then run through the Python Live:
    the same people, the same smoothed labels."""
    page.evaluate("() => { window.fer.live.reset(); window.fer.live.trace = []; }")
    page.locator("#live-start").click()
    # Past the next whole-frame look (WHOLE_LOOK_EVERY), so both kinds of look are held to Python's.
    page.wait_for_function(f"() => window.fer.live.trace.length > {WHOLE_LOOK_EVERY + 1}", timeout=60_000)
    page.locator("#live-start").click()  # stop
    trace = page.evaluate(READ_TRACE)
    assert page.locator("#live-rate").inner_text().endswith("frames/s labelled on this device")
    assert_python_live_agrees(trace)
    assert trace[-1]["people"] == [1]  # one person throughout, keeping their number
    looks = [step["lookedFor"] for step in trace]
    assert looks.count(1) > looks.count(0) >= 2  # mostly around her face, and at the whole frame now and then


def test_live_follows_moving_faces_as_fer_live_does(page):
    """A camera panning over four people, 8 px between two analyses, fed to the device's Live
    analysis by analysis: Python's Live looks where it looks and numbers and labels them alike."""
    photo = Image.open(ROOT / "examples" / "four_faces.jpg").convert("RGB")
    photo = photo.resize((round(photo.width * 240 / photo.height), 240), Image.BILINEAR)
    scene = Image.new("RGB", (photo.width + 120, 240), (128, 128, 128))
    scene.paste(photo, (60, 0))
    frames = [scene.crop((x, 0, x + 320, 240)) for x in range(0, scene.width - 320, 8)][:16]
    trace = page.evaluate(
        f"""async (pngs) => {{
            const live = window.fer.live;
            live.reset();
            live.trace = [];
            for (const png of pngs) await live.detect(await ({decode_in_page})(png), performance.now());
            return ({READ_TRACE})();
        }}""",
        [png_base64(frame) for frame in frames],
    )
    assert_python_live_agrees(trace)
    looks = [step["lookedFor"] for step in trace]
    assert looks.count(0) < len(looks) / 2 and max(looks) >= 2  # mostly around several faces at once
    assert max(len(step["people"]) for step in trace) >= 3


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("load", "Live on this device: frames never leave your browser."), ("404", "(HTTP 404)")],
    ids=["models-arrive", "models-fail"],
)
def test_live_started_before_the_models_load_shows_the_camera_then_labels_or_one_sentence(
    camera_browser, site_url, answer, expected
):
    """Start works as the page opens: the camera's frames are drawn bare while the expression model is
    held back, labelled once it arrives; if it fails instead, the camera stops with its sentence."""
    with camera_browser.new_context(permissions=["camera"]) as context:
        page = context.new_page()
        held = []
        page.route("**/models/model_int8.onnx", lambda route: held.append(route))
        page.goto(site_url, wait_until="domcontentloaded")
        page.wait_for_function("() => window.fer.live", timeout=60_000)
        page.locator("#live-start").click()
        page.locator("#live-status").get_by_text("Loading the models into this browser").wait_for(timeout=30_000)
        canvas = "document.querySelector('#live-canvas')"
        drawn = f"() => {canvas}.getContext('2d').getImageData(160, 120, 1, 1).data[3] === 255"
        page.wait_for_function(drawn, timeout=30_000)
        while not held:
            page.wait_for_timeout(50)
        assert page.evaluate("() => window.fer.live.stats.shown.length") == 0  # nothing labelled without the models
        if answer == "load":
            held[0].continue_()
            page.wait_for_function("() => window.fer.live.stats.shown.length > 0", timeout=60_000)
            assert page.evaluate("() => window.fer.live.running && window.fer.live.keyframe.faces.length") == 1
        else:
            held[0].fulfill(status=404, body=b"")
            page.wait_for_function("() => window.fer.error", timeout=60_000)
            assert not page.evaluate("() => window.fer.live.running")
            assert page.locator("#live-start").inner_text() == "Start"
        assert expected in page.locator("#live-status").inner_text()


WIDGET_PAGE = """async () => {
    const config = await (await fetch("config.json")).json();
    const pick = (name) => {
        const model = { ...config.model, name, url: `${config.model.url}?${name}` };
        return JSON.stringify({ ...config, model });
    };
    window.picked = pick("first");
    window.fellBack = [];
    const { mountDeviceLive } = await import("./fer/widget.js");
    const element = document.querySelector(".fer-device");
    window.mounted = mountDeviceLive(element, () => window.picked, (sentence) => window.fellBack.push(sentence));
    window.picked = pick("second");
}"""


def test_the_apps_live_runs_the_latest_pick_when_an_earlier_pick_loads_last(camera_browser, site_url):
    """The app's device Live widget (as fer.app.device_live mounts it): a model is picked, then another
    while the first is still loading; the first, arriving last, is dropped, and Live runs the second."""
    from fer.app.device_live import TEMPLATE

    with camera_browser.new_context(permissions=["camera"]) as context:
        page = context.new_page()
        page.route(
            "**/widget.html", lambda route: route.fulfill(body=f"<!doctype html>{TEMPLATE}", content_type="text/html")
        )
        held = []
        page.route("**/models/model_int8.onnx?first", lambda route: held.append(route))
        page.goto(site_url + "widget.html", wait_until="domcontentloaded")
        page.evaluate(WIDGET_PAGE)
        while not held:
            page.wait_for_timeout(50)
        page.evaluate("() => window.mounted.reload()")
        page.locator(".fer-status").get_by_text("never leave your browser").wait_for(timeout=60_000)
        assert page.evaluate("() => window.ferDeviceLive.analyser.model.name") == "second"
        held[0].continue_()
        deadline = time.monotonic() + 60
        while len(page.workers) > 1 and time.monotonic() < deadline:  # the first pick's worker, once loaded, is ended
            page.wait_for_timeout(50)
        assert len(page.workers) == 1
        assert page.evaluate("() => window.ferDeviceLive.analyser.model.name") == "second"
        page.locator(".fer-start").click()
        page.wait_for_function("() => window.ferDeviceLive.stats.shown.length > 0", timeout=60_000)
        assert page.evaluate("() => window.fellBack") == []


# The first camera a page asks for is handed over only when the test calls window.releaseCamera():
# the real fake camera, opened as slowly as the test needs.
HOLD_FIRST_CAMERA = """(() => {
    const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    window.cameraStreams = [];
    navigator.mediaDevices.getUserMedia = async (constraints) => {
        const stream = await open(constraints);
        window.cameraStreams.push(stream);
        if (window.cameraStreams.length === 1) await new Promise((resolve) => { window.releaseCamera = resolve; });
        return stream;
    };
})()"""


def test_a_model_picked_while_the_camera_opens_closes_that_camera(camera_browser, site_url):
    """Start clicked in the app's device Live, then another model picked before the camera has opened:
    the camera is closed when it arrives, not left running unseen, and Start runs the new pick."""
    from fer.app.device_live import TEMPLATE

    with camera_browser.new_context(permissions=["camera"]) as context:
        page = context.new_page()
        page.route(
            "**/widget.html", lambda route: route.fulfill(body=f"<!doctype html>{TEMPLATE}", content_type="text/html")
        )
        page.add_init_script(HOLD_FIRST_CAMERA)
        page.goto(site_url + "widget.html", wait_until="domcontentloaded")
        page.evaluate(WIDGET_PAGE)
        page.wait_for_function("() => window.ferDeviceLive.analyser", timeout=60_000)
        page.evaluate("() => { window.first = window.ferDeviceLive; }")
        page.locator(".fer-start").click()
        page.wait_for_function("() => window.releaseCamera", timeout=30_000)
        page.evaluate("() => window.mounted.reload()")
        page.evaluate("() => window.releaseCamera()")
        page.wait_for_function(
            "() => window.cameraStreams[0].getTracks().every((track) => track.readyState === 'ended')", timeout=10_000
        )
        assert page.evaluate("() => window.first.running") is False
        assert page.locator(".fer-start").inner_text() == "Start"
        page.wait_for_function("() => window.ferDeviceLive.analyser", timeout=60_000)
        page.locator(".fer-start").click()
        page.wait_for_function("() => window.ferDeviceLive.stats.shown.length > 0", timeout=60_000)
        assert page.evaluate("() => window.ferDeviceLive.analyser.model.name") == "second"
        assert page.evaluate("() => window.fellBack") == []


# --- bad conditions on the device: one sentence each ---------------------------------------------


def load_failing(browser, site_url: str, route: str | None = None, body: bytes | None = None, script: str = "") -> str:
    """Open the page with ``route`` answered 404 (or with ``body``), or ``script`` run first; its sentence."""
    with browser.new_context(permissions=["camera"]) as context:
        page = context.new_page()
        if script:
            page.add_init_script(script)
        if route:
            page.route(
                f"**/{route}",
                lambda r: r.fulfill(status=200, body=body) if body is not None else r.fulfill(status=404, body=b""),
            )
        page.goto(site_url, wait_until="domcontentloaded")
        page.wait_for_function("() => window.fer.error || window.fer.analyse", timeout=60_000)
        sentence = page.evaluate("() => window.fer.error")
        assert page.locator("#photo-status").inner_text() == sentence
    return sentence


@pytest.mark.parametrize(
    ("route", "body", "script", "expected"),
    [
        ("models/model_int8.onnx", None, "", "The expression model could not be downloaded (HTTP 404)."),
        ("models/centerface_int8.onnx", b"not onnx", "", "The face detector model is damaged or not an ONNX model"),
        (
            "runtime/ort-wasm-simd-threaded.wasm",
            None,
            "",
            "The model runtime (onnxruntime-web) could not be downloaded",
        ),
        ("runtime/ort.wasm.bundle.min.mjs", b"export {}", "", "not the published ones"),
        ("runtime/ort-wasm-simd-threaded.wasm", b"\0asm tampered", "", "not the published ones"),
        (None, None, "WebAssembly.validate = () => false;", "its WebAssembly lacks SIMD"),
    ],
    ids=["model-404", "detector-garbage", "runtime-blocked", "runtime-tampered", "wasm-tampered", "no-simd"],
)
def test_a_model_or_runtime_that_fails_to_load_is_one_sentence(camera_browser, site_url, route, body, script, expected):
    assert expected in load_failing(camera_browser, site_url, route, body, script)


def test_a_file_that_is_not_an_image_and_a_50_megapixel_image_are_refused_from_their_headers(page, tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image")
    page.locator("#photo-input").set_input_files(str(tmp_path / "notes.jpg"))
    page.locator("#photo-status").get_by_text(
        "Cannot use this image: not a readable image: not a format we recognise."
    ).wait_for(timeout=30_000)
    Image.new("1", (7100, 7100)).save(tmp_path / "huge.png")  # 50.4 megapixels, 6 KB on disk
    page.locator("#photo-input").set_input_files(str(tmp_path / "huge.png"))
    page.locator("#photo-status").get_by_text(
        "Cannot use this image: image is 7100x7100 pixels, more than the 50,000,000 we accept."
    ).wait_for(timeout=30_000)
    page.locator("#photo-input").set_input_files(str(ROOT / "examples" / "four_faces.jpg"))
    page.locator("#photo-status").get_by_text("Found 4 faces.").wait_for(timeout=30_000)
    assert page.locator("#photo-faces > li").count() == 4 and page.locator("#photo-json").is_visible()


def test_camera_denied_and_no_camera_each_get_their_sentence(playwright, site_url):
    """Without the fake camera's auto-accepting prompt the permission is denied; with no device at all,
    there is no camera to find."""
    for flags, permissions, expected in [
        (("--use-fake-device-for-media-stream",), [], "The camera permission was denied"),
        ((), ["camera"], "No camera was found on this device."),
    ]:
        with launch(playwright, flags) as browser:
            page = browser.new_context(permissions=permissions).new_page()
            page.goto(site_url, wait_until="domcontentloaded")
            page.wait_for_function("() => window.fer.analyse", timeout=60_000)
            page.locator("#live-start").click()
            page.locator("#live-status").get_by_text(expected).wait_for(timeout=30_000)


def test_building_and_pushing_a_static_space_is_one_command(site, tmp_path):
    """``build_web.py OUT --push user/space`` against the local Hub, as ``train.push`` is tested."""
    from tests.hub_server import FakeHub
    from tests.test_hub import hub_env

    out = tmp_path / "space"
    with FakeHub() as hub:
        command = [sys.executable, "scripts/build_web.py", str(out), "--push", "tester/fer-on-device"]
        done = subprocess.run(command, cwd=ROOT, env=hub_env(hub, tmp_path), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        repo = hub.repos["tester/fer-on-device"]
    assert repo.kind == "space" and repo.sdk == "static" and f"pushed -> {hub.url}" in done.stdout
    files = repo.commits[-1]["files"]
    assert files["README.md"] == (site / "README.md").read_bytes()
    wasm = "runtime/ort-wasm-simd-threaded.wasm"
    assert files[wasm] == (site / wasm).read_bytes()


def test_the_app_hands_the_picked_models_files_and_numbers_to_device_live():
    """What the Live tab's device mode gets when a model is picked: its own ONNX file (a content-named
    copy the app serves), labels and threshold; an unknown pick, one sentence instead."""
    from fer.app import device_live

    config = json.loads(device_live.device_config("fernet_s"))
    model_copy = Path(config["model"]["url"].removeprefix("/gradio_api/file="))
    assert model_copy.parent == device_live.COPIES
    assert model_copy.read_bytes() == (ROOT / "checkpoints" / "fernet_s" / "model_int8.onnx").read_bytes()
    assert config["model"]["name"] == "fernet_s" and config["model"]["uncertain_below"] == 0.55
    assert any(model_copy.is_relative_to(folder) for folder in device_live.static_paths())
    unknown = json.loads(device_live.device_config("nobody/none"))
    assert unknown["unavailable"].startswith("Cannot use this model: there is no model 'nobody/none' here")
