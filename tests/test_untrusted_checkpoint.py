"""A checkpoint is untrusted input: each case is a copy of the embedded checkpoint with one thing
changed, as an attacker publishing a Hub repo would change it.

Every case asserts the one sentence the reader gives, and that no file outside the checkpoint's
folder was opened; the big-file cases also bound the memory of a process that loads them.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from fer.app.model_choices import ModelChoices
from fer.app.text import plain
from fer.model.checkpoint_files import CheckpointError
from fer.model.checkpoint_info import EMBEDDED_CHECKPOINT, read_checkpoint_info
from fer.model.onnx_classifier import OnnxModelError, load_onnx_classifier, run_within
from fer.pipeline.faces import CenterFaceDetector
from fer.pipeline.predict import Predictor, predictor_with_fallback
from fer.pipeline.uncertainty import UNCERTAINTY_FILE, check_uncertainty
from tests.conftest import ROOT

SMALL_FILES = ("config.json", "metrics.json", "uncertainty.json", "export.json", "model_int8.onnx")


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    """A fresh copy of the embedded checkpoint (the weights linked, not copied: they are only read)."""
    folder = tmp_path / "stranger"
    folder.mkdir()
    for name in SMALL_FILES:
        shutil.copy(EMBEDDED_CHECKPOINT / name, folder / name)
    shutil.copy(EMBEDDED_CHECKPOINT / "model.safetensors", folder / "model.safetensors")
    return folder


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file outside the checkpoint that it will try to make us read."""
    secret = tmp_path / "secret.json"
    secret.write_text('{"accuracy": 0.99, "token": "hf_secret"}')
    return secret


@pytest.fixture
def opened(monkeypatch) -> list[Path]:
    """Every path Python opens while the test runs (pathlib, open(), os.open)."""
    seen: list[Path] = []
    real_open, real_os_open = io.open, os.open

    def recording_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            seen.append(Path(file).resolve())
        return real_open(file, *args, **kwargs)

    def recording_os_open(path, *args, **kwargs):
        seen.append(Path(path).resolve())
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(io, "open", recording_open)
    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(os, "open", recording_os_open)
    return seen


def edit_json(folder: Path, name: str, change: Callable[[dict], object]) -> None:
    """``change`` edits the parsed file in place; its return value is ignored."""
    data = json.loads((folder / name).read_text())
    change(data)
    (folder / name).write_text(json.dumps(data))


def write(folder: Path, name: str, content: bytes | str) -> None:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())


# --- a required file: the checkpoint is refused in one sentence -----------------------------

CONFIG_CASES = {
    "top level is a string": (lambda f: write(f, "config.json", '"fernet_s"'), "config.json must hold a JSON object"),
    "not UTF-8": (lambda f: write(f, "config.json", b'{"architecture": "\xff\xfe"}'), "config.json is not UTF-8 text"),
    "nested deeply": (lambda f: write(f, "config.json", "[" * 100_000 + "]" * 100_000), "config.json is nested too"),
    "a 5,000-digit integer": (
        lambda f: write(f, "config.json", (f / "config.json").read_text().rstrip()[:-1] + ', "x": ' + "9" * 5000 + "}"),
        "config.json is not valid JSON (Exceeds the limit (4300 digits)",
    ),
    "50 MB": (lambda f: write(f, "config.json", " " * 50_000_000 + "{}"), "config.json is 47.7 MB, over the 0.2 MB"),
    "label_names an int": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(label_names=7)),
        "config.json: label_names must be a list of lower-case names",
    ),
    "label_names repeated": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(label_names=["happy"] * 7)),
        "config.json: label_names must be a list without repeats",
    ),
    "a label with markup": (
        lambda f: edit_json(f, "config.json", lambda c: c["label_names"].__setitem__(0, "![t](http://host/p.png)")),
        "config.json: label_names must be a list of lower-case names",
    ),
    "an architecture with markup": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(architecture="<img src=x onerror=alert(1)>")),
        "config.json: architecture must be a timm model name",
    ),
    "a model_name with markup": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(model_name="![t](http://host/p.png)")),
        "config.json: model_name must be a plain name or a Hub repo id",
    ),
    "a model_args key with markup": (
        lambda f: edit_json(f, "config.json", lambda c: c["model_args"].update({"<b>x</b>": 1})),
        "config.json: model_args field '<b>x</b>' is not allowed",
    ),
    "model_args a list": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(model_args=[1])),
        "config.json: model_args must be a JSON object",
    ),
    "pretrained_cfg without mean": (
        lambda f: edit_json(f, "config.json", lambda c: c["pretrained_cfg"].pop("mean")),
        "config.json: pretrained_cfg.mean must be 1 finite number",
    ),
    "std of 0": (
        lambda f: edit_json(f, "config.json", lambda c: c["pretrained_cfg"].update(std=[0.0])),
        "config.json: pretrained_cfg.std must be 1 finite number above 0",
    ),
    "input_size 2000": (
        lambda f: edit_json(f, "config.json", lambda c: c["pretrained_cfg"].update(input_size=[1, 2000, 2000])),
        "config.json: pretrained_cfg.input_size must be [channels, side, side]",
    ),
    "in_chans 2e6": (
        lambda f: edit_json(f, "config.json", lambda c: c["model_args"].update(in_chans=2_000_000)),
        "config.json: model_args.in_chans must be 1, as input_size says",
    ),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_a_bad_config_refuses_the_checkpoint_in_one_sentence(case, checkpoint, opened):
    spoil, sentence = CONFIG_CASES[case]
    spoil(checkpoint)
    with pytest.raises(CheckpointError) as refused:
        Predictor(checkpoint)
    assert str(refused.value).startswith(sentence) and "\n" not in str(refused.value)
    assert str(checkpoint.parent) not in str(refused.value)  # never a server path
    assert all(path.is_relative_to(checkpoint) or ROOT in path.parents for path in opened)


def test_a_config_outside_the_folder_is_never_opened(checkpoint, outside, opened):
    (checkpoint / "config.json").unlink()
    (checkpoint / "config.json").symlink_to(EMBEDDED_CHECKPOINT / "config.json")  # valid, but not its own
    with pytest.raises(CheckpointError, match="^config.json points outside the checkpoint's folder$"):
        read_checkpoint_info(checkpoint)
    assert (EMBEDDED_CHECKPOINT / "config.json").resolve() not in opened


# --- an optional file: only its feature is lost, with a notice ------------------------------

LEFT_OUT = "This model's metrics.json was left out: "
NO_DOUBT = "This model's uncertainty.json was left out, so no face is marked uncertain: "
FIGURES = '"accuracy_below": 0.4, "accuracy_at_or_above": 0.8'
OPTIONAL_CASES = {
    "metrics.json as a link to a secret": ("metrics.json", None, LEFT_OUT + "metrics.json points outside"),
    "metrics.json not JSON": ("metrics.json", "{accuracy: high", LEFT_OUT + "metrics.json is not valid JSON"),
    "metrics.json accuracy a string": (
        "metrics.json",
        '{"accuracy": "99%"}',
        LEFT_OUT + "metrics.json: accuracy must be a number from 0 to 1",
    ),
    "metrics.json accuracy null": (
        "metrics.json",
        '{"accuracy": null}',
        LEFT_OUT + "metrics.json: accuracy must be a number from 0 to 1",
    ),
    "metrics.json accuracy NaN": (
        "metrics.json",
        '{"accuracy": NaN}',
        LEFT_OUT + "metrics.json is not valid JSON (NaN is not a number",
    ),
    "metrics.json a class with markup": (
        "metrics.json",
        '{"accuracy": 0.7, "per_class": {"![t](http://host/p.png)": {"recall": 0.5}}}',
        LEFT_OUT + "metrics.json: per_class must be keyed by the checkpoint's label_names",
    ),
    "uncertainty.json not JSON": ("uncertainty.json", "threshold=0.5", NO_DOUBT + "uncertainty.json is not valid"),
    "uncertainty.json threshold 5": (
        "uncertainty.json",
        '{"threshold": 5, ' + FIGURES + "}",
        NO_DOUBT + "uncertainty.json: threshold must be a number between 0 and 1",
    ),
    "uncertainty.json accuracy_below null": (
        "uncertainty.json",
        '{"threshold": 0.5, "accuracy_below": null, "accuracy_at_or_above": 0.8}',
        NO_DOUBT + "uncertainty.json: accuracy_below must be a number from 0 to 1",
    ),
}


@pytest.mark.parametrize("case", OPTIONAL_CASES)
def test_a_bad_optional_file_drops_only_its_feature_with_a_notice(case, checkpoint, outside, opened):
    name, content, notice = OPTIONAL_CASES[case]
    (checkpoint / name).unlink()
    if content is None:
        (checkpoint / name).symlink_to(outside)
    else:
        write(checkpoint, name, content)
    predictor = Predictor(checkpoint)
    metrics = predictor.info.metrics()
    assert predictor.serving == "onnxruntime, int8"  # the model itself still serves
    assert any(notice in text for text in predictor.info.notices), predictor.info.notices
    if name == "metrics.json":
        assert metrics == {}
    else:
        faces = predictor.predict(ROOT / "examples" / "one_face.jpg")
        assert predictor.uncertainty is None and not any(face.uncertain for face in faces)
    assert outside.resolve() not in opened


def test_calibration_never_writes_a_threshold_the_reader_refuses():
    no_face_below = {"threshold": 0.0, "accuracy_below": None, "accuracy_at_or_above": 0.7}  # choose_threshold's own
    with pytest.raises(CheckpointError, match=f"{UNCERTAINTY_FILE}: threshold must be a number between 0 and 1"):
        check_uncertainty(no_face_below)


# --- weights and graphs: checked before they are loaded -------------------------------------


def test_weights_outside_the_folder_are_never_read(checkpoint, opened):
    from fer.model.checkpoint import load_checkpoint

    (checkpoint / "model.safetensors").unlink()
    (checkpoint / "model.safetensors").symlink_to(EMBEDDED_CHECKPOINT / "model.safetensors")
    with pytest.raises(CheckpointError, match="^model.safetensors points outside the checkpoint's folder$"):
        load_checkpoint(checkpoint)


def test_weights_made_for_another_model_are_refused_from_their_header(checkpoint):
    from safetensors.numpy import save_file

    from fer.model.checkpoint import load_checkpoint

    save_file({"stem.weight": np.zeros((2, 2), np.float32)}, checkpoint / "model.safetensors")
    with pytest.raises(CheckpointError, match="^model.safetensors does not match fernet_s: it holds other tensors$"):
        load_checkpoint(checkpoint)


def peak_mb_loading(folder: Path, what: str) -> tuple[float, str]:
    """Peak resident memory (MB) of a fresh process that loads ``folder`` in the way ``what``
    names, and the sentence it was refused with."""
    loader = {
        "torch": "fer.model.checkpoint import load_checkpoint",
        "serving": "fer.pipeline.predict import Predictor",
    }[what]
    code = (
        "import sys\n"
        "from fer.model.checkpoint_files import CheckpointError\n"
        f"from {loader} as load\n"
        "try:\n    load(sys.argv[1]); print('loaded')\n"
        "except CheckpointError as exc:\n    print(exc)\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec
        "peak = [line for line in open('/proc/self/status') if line.startswith('VmHWM')][0]\n"
        "print(int(peak.split()[1]) / 1024)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT, capture_output=True, text=True)
    sentence, peak = result.stdout.strip().splitlines()[-2:]
    return float(peak), sentence


def test_a_2_gb_sparse_weights_file_is_refused_before_it_is_read(checkpoint):
    with (checkpoint / "model.safetensors").open("r+b") as handle:
        handle.truncate(2 * 2**30)  # sparse: costs no disk, would cost 2 GB of memory to read
    peak, sentence = peak_mb_loading(checkpoint, "torch")
    assert sentence == "model.safetensors is 2048.0 MB, over the 256.0 MB allowed"
    assert peak < 1000  # torch itself is most of it; the file would add 2 GB


def test_a_50_mb_config_is_refused_before_it_is_parsed(checkpoint):
    write(checkpoint, "config.json", " " * 50_000_000 + "{}")
    peak, sentence = peak_mb_loading(checkpoint, "serving")
    assert sentence == "config.json is 47.7 MB, over the 0.2 MB allowed"
    assert peak < 400


def graph_file(folder: Path, nodes: list, inputs: list, outputs: list, initializers: tuple = ()) -> Path:
    graph = helper.make_graph(nodes, "hostile", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    path = folder / "model_int8.onnx"
    path.write_bytes(model.SerializeToString())
    return path


FACES = helper.make_tensor_value_info("faces", TensorProto.FLOAT, ["N", 1, 48, 48])
LOGITS = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 7])

GRAPH_CASES = {
    "a Loop of 10^12 iterations": (
        lambda f: graph_file(f, [helper.make_node("Loop", ["n", "", ], ["logits"])], [FACES], [LOGITS],
                             [helper.make_tensor("n", TensorProto.INT64, [], [10**12])]),
        "operators a classifier export never has: Loop",
    ),
    "a ConstantOfShape of 25000^2": (
        lambda f: graph_file(f, [helper.make_node("ConstantOfShape", ["shape"], ["logits"])], [FACES], [LOGITS],
                             [helper.make_tensor("shape", TensorProto.INT64, [2], [25000, 25000])]),
        "operators a classifier export never has: ConstantOfShape",
    ),
    "external data": (
        lambda f: graph_file(f, [helper.make_node("Gemm", ["flat", "w"], ["logits"])], [FACES], [LOGITS],
                             [external_tensor("w")]),
        "weights in files outside it: external data",
    ),
    "not ONNX at all": (lambda f: write(f, "model_int8.onnx", b"\x0a\xff\xff\xff\xff"), "not an ONNX file"),
}  # fmt: skip


def external_tensor(name: str) -> TensorProto:
    tensor = helper.make_tensor(name, TensorProto.FLOAT, [2304, 7], np.zeros(2304 * 7, np.float32))
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../../../etc/passwd")
    return tensor


@pytest.mark.parametrize("case", GRAPH_CASES)
def test_a_hostile_graph_is_refused_before_onnxruntime_opens_it(case, checkpoint):
    build, reason = GRAPH_CASES[case]
    build(checkpoint)
    with pytest.raises(OnnxModelError) as refused:
        load_onnx_classifier(checkpoint / "model_int8.onnx", [str(i) for i in range(7)], 48, (0.5,), (0.3,))
    assert str(refused.value) == f"model_int8.onnx is not a usable ONNX model ({reason})"
    served = Predictor(checkpoint)  # the app serves the torch weights instead, and says why
    assert served.serving == "torch" and reason in served.notice


def test_a_model_call_past_the_time_limit_is_stopped_and_refused(checkpoint):
    """Allowed operators only, but thousands of large products: one call takes seconds."""
    side = 512
    nodes = [helper.make_node("Reshape", ["faces", "square"], ["x0"])]
    nodes += [helper.make_node("MatMul", [f"x{i}", "big"], [f"x{i + 1}"]) for i in range(2000)]
    nodes += [
        helper.make_node("Reshape", ["x2000", "flat_shape"], ["flat"]),
        helper.make_node("Gemm", ["flat", "head"], ["logits"]),
    ]
    init = [
        helper.make_tensor("square", TensorProto.INT64, [2], [-1, side]),
        helper.make_tensor("big", TensorProto.FLOAT, [side, side], np.full(side * side, 1e-3, np.float32)),
        helper.make_tensor("flat_shape", TensorProto.INT64, [2], [-1, 2304]),
        helper.make_tensor("head", TensorProto.FLOAT, [2304, 7], np.zeros(2304 * 7, np.float32)),
    ]  # fmt: skip
    path = graph_file(checkpoint, nodes, [FACES], [LOGITS], init)
    import onnxruntime as ort

    session = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
    # A CheckpointError, so every tab and endpoint shows it as the model's refusal, in one sentence.
    with pytest.raises(CheckpointError, match="^the model took over 0.3 s for one call and was stopped$"):
        run_within(session, np.zeros((64, 1, 48, 48), np.float32), limit_s=0.3)


# --- the app: always starts, shows checkpoint text as text, names no server path -----------


def test_bad_folders_are_left_out_of_the_picker_and_the_app_still_starts(tmp_path, caplog):
    shelf = tmp_path / "checkpoints"
    shelf.mkdir()
    shutil.copytree(EMBEDDED_CHECKPOINT, shelf / "fernet_s", ignore=shutil.ignore_patterns("model.safetensors"))
    for name, (spoil, _) in list(CONFIG_CASES.items())[:6]:
        folder = shelf / name.replace(" ", "_").replace(",", "")
        shutil.copytree(shelf / "fernet_s", folder)
        spoil(folder)
    marked = shelf / "<img src=x onerror=alert(1)>"
    shutil.copytree(shelf / "fernet_s", marked)
    odd_metrics = shelf / "odd_metrics"
    shutil.copytree(shelf / "fernet_s", odd_metrics)
    write(odd_metrics, "metrics.json", '{"accuracy": null}')

    choices = ModelChoices(None, CenterFaceDetector(max_side=320), checkpoints=shelf)
    offered = [key for _, key in choices.dropdown_choices()]
    assert "odd_metrics" in offered and marked.name not in offered and len(offered) == 2  # the default, odd_metrics
    assert all("<" not in label for label, _ in choices.dropdown_choices())
    assert len([r for r in caplog.records if "not offering" in r.message]) == 7
    assert all(r.exc_info is None for r in caplog.records)  # one line each, no traceback


def test_a_failing_fer_model_is_named_without_its_server_path(tmp_path):
    folder = tmp_path / "deep" / "private" / "my_model"
    folder.mkdir(parents=True)
    write(folder, "config.json", "[]")
    predictor, notice = predictor_with_fallback(str(folder))
    assert notice == (
        "Could not load FER_MODEL='my_model' (config.json must hold a JSON object); serving the embedded model instead."
    )
    assert str(tmp_path) not in notice and predictor.info.folder == EMBEDDED_CHECKPOINT


def test_text_from_a_checkpoint_is_escaped_for_markdown():
    shown = plain("![t](http://host/pixel.png) <img src=x onerror=alert(1)>")
    assert "<" not in shown and "![" not in shown and "](" not in shown


@pytest.mark.browser
def test_a_markdown_image_in_a_checkpoints_name_is_shown_as_text_and_never_fetched(tmp_path, request):
    """FER_MODEL names a folder whose name is a Markdown image and an HTML tag; it is refused, and
    the page's notice quotes the name. Unescaped, every visitor's browser would fetch the image."""
    from tests.app_server import running_app
    from tests.chromium import CHROMIUM, launch

    folder = tmp_path / "![t](tracker.png)<i>x"
    folder.mkdir()
    write(folder, "config.json", "[]")
    with running_app(env={"FER_MODEL": str(folder)}) as server:
        with urllib.request.urlopen(server.url + "config") as response:
            config = json.loads(response.read())
        (facts,) = [c["props"]["value"] for c in config["components"] if c["props"].get("elem_id") == "model-facts"]
        assert "tracker.png" in facts and "<i>" not in facts and "![t](" not in facts
        assert str(tmp_path) not in json.dumps(config)  # no server path anywhere on the page
        if not CHROMIUM.exists():
            pytest.skip(f"{CHROMIUM} not installed (scripts/test.sh installs Debian's chromium)")
        browser = launch(request.getfixturevalue("playwright"))
        page = browser.new_page()
        requested: list[str] = []
        page.on("request", lambda sent: requested.append(sent.url))
        page.goto(server.url, wait_until="domcontentloaded")
        page.locator("#model-facts").get_by_text("tracker.png").wait_for(timeout=60_000)
        page.wait_for_timeout(1000)  # time for an image in it to be requested
        shown = page.locator("#model-facts").inner_text()
        browser.close()
    assert "![t](tracker.png)<i>x" in shown  # the name, literally
    assert not [url for url in requested if "tracker.png" in url]


def test_a_torch_call_past_the_limit_frees_its_caller_with_one_sentence(monkeypatch):
    """A torch model cannot be stopped midway: the caller stops waiting at the limit instead."""
    import time

    from fer.pipeline import predict

    monkeypatch.setattr(predict, "CALL_LIMIT_S", 0.2)
    started = time.monotonic()
    with pytest.raises(CheckpointError, match="^the model took over 0.2 s for one call and was abandoned$"):
        predict.within_call_limit(lambda: time.sleep(3))
    assert time.monotonic() - started < 1.0


def test_heatmaps_a_checkpoint_cannot_give_are_refused_and_the_answer_stands(tmp_path):
    from fer.app.photo import analyse_photo, render_photo, with_heatmaps

    folder = tmp_path / "stranger"
    shutil.copytree(EMBEDDED_CHECKPOINT, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").symlink_to(EMBEDDED_CHECKPOINT / "model.safetensors")  # not its own
    result = {**analyse_photo(str(ROOT / "examples" / "one_face.jpg"), False), "predictor": Predictor(folder)}
    status = render_photo(with_heatmaps(result, True), 0, 3, True)[1]
    assert status.startswith("Found **1** face")  # the answer stands
    assert "No heatmaps from this model: model.safetensors points outside" in status


@pytest.mark.parametrize("target", ["missing.json", "metrics.json"])
def test_a_link_to_nothing_or_in_a_loop_is_one_sentence(checkpoint, target):
    (checkpoint / "metrics.json").unlink()
    (checkpoint / "metrics.json").symlink_to(checkpoint / target)  # dangling, or pointing at itself
    info = read_checkpoint_info(checkpoint)
    assert info.metrics() == {}
    assert info.notices == ["This model's metrics.json was left out: metrics.json is a link that leads to no file."]
