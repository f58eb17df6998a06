"""Push, pull, fine-tune and serve through a Hub-compatible server on 127.0.0.1.

``huggingface_hub`` reads ``HF_ENDPOINT`` when it is imported, so every step runs our real
commands in a subprocess pointed at the local server, exactly as a user runs them, with the
real ``huggingface_hub`` client and nothing patched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from fer.app.text import plain
from fer.model.checkpoint_info import EMBEDDED_CHECKPOINT
from tests.app_server import running_app
from tests.chromium import CHROMIUM, launch
from tests.conftest import ROOT, TINY_RUN_FLAGS
from tests.hub_server import FakeHub, Repo
from train.export import main as export_main
from train.train import cli as train_cli

pytestmark = pytest.mark.slow
ONE_FACE = str(ROOT / "examples" / "one_face.jpg")


@pytest.fixture(scope="module")
def hub():
    with FakeHub() as server:
        yield server


def hub_env(hub: FakeHub, tmp: Path, token: str | None = "write-token", **extra: str) -> dict[str, str]:
    # Set, not just dropped: running_app layers this over os.environ, where a CI image may
    # have HF_HUB_OFFLINE=1 (the app would then fall back to its embedded model).
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    env.update(
        {
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(tmp / "hf-home"),
            "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            **extra,
        }
    )
    if token:
        env["HF_TOKEN"] = token
    return env


def run(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed:\n{result.stdout}\n{result.stderr}")
    return result


def predictions(models: list[tuple[str, str | None]], env: dict[str, str]) -> list[list[dict]]:
    """What the Predictor says of ONE_FACE under each (reference, revision), in one process."""
    code = (
        "import json, sys; from fer.hub.resolve import load_model; from fer.pipeline.predict import Predictor; "
        f"print(json.dumps([[f.as_json(7) for f in Predictor(load_model(ref, revision=rev)).predict({ONE_FACE!r})] "
        "for ref, rev in json.loads(sys.argv[1])]))"
    )
    return json.loads(run(["-c", code, json.dumps(models)], env).stdout.strip().splitlines()[-1])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def runs(tiny_run, fer_zip, tmp_path_factory) -> dict[str, Path]:
    """Two tiny real runs with different seeds (so their weights differ): the shared one (seed 0),
    copied since pushing writes its card, and one trained here with seed 1."""
    base = tmp_path_factory.mktemp("hub-runs")
    out = {"a": Path(shutil.copytree(tiny_run, base / "a")), "b": base / "b"}
    flags = ["--data", str(fer_zip), "--out", str(out["b"]), *TINY_RUN_FLAGS, "--seed", "1"]
    assert train_cli(["--no-progress", *flags]) == 0  # in process: no Hub is involved yet
    return out


@pytest.fixture(scope="module")
def pushed(hub, runs, tmp_path_factory) -> dict:
    """Run a pushed to tester/fer, then run b pushed on top (a second commit)."""
    tmp = tmp_path_factory.mktemp("push")
    env = hub_env(hub, tmp)
    run(["-m", "train.push", str(runs["a"]), "tester/fer"], env)
    first = hub.repos["tester/fer"].branches["main"]
    assert export_main([str(runs["b"])]) == 0  # the second push carries model.onnx too
    run(["-m", "train.push", str(runs["b"]), "tester/fer", "--message", "second model"], env)
    return {"first": first, "second": hub.repos["tester/fer"].branches["main"], "env": env}


def test_repo_holds_the_checkpoint_card_and_plots_but_no_training_state(hub, pushed):
    files = hub.repos["tester/fer"].resolve("main")["files"]
    for name in (
        "config.json",
        "model.safetensors",
        "README.md",
        "metrics.json",
        "confusion.png",
        "curves.png",
        "train_args.json",
        "classification_report.txt",
    ):
        assert name in files, name
    assert not any(name.startswith("last/") for name in files)
    assert json.loads(files["config.json"])["label_names"][3] == "happy"


def test_model_card_metadata_and_content(hub, pushed):
    card = hub.repos["tester/fer"].resolve("main")["files"]["README.md"].decode()
    header = card.split("---")[1]
    for line in ("library_name: timm", "pipeline_tag: image-classification", "- fer2013", "- accuracy"):
        assert line in header
    for text in (
        "## Validation results",
        "| disgust |",
        "macro-F1",
        "![Confusion matrix](confusion.png)",
        "python -m train.train",
        "## Limitations and biases",
        'timm.create_model("hf-hub:tester/fer"',
        "0.30M parameters",
    ):
        assert text in card, text


def test_pushing_again_keeps_history_and_revisions_pull_each_version(hub, runs, pushed, tmp_path):
    repo = hub.repos["tester/fer"]
    assert [c["message"] for c in repo.commits][-2:] == ["Upload fernet_t FER checkpoint", "second model"]
    env = hub_env(hub, tmp_path)
    code = (
        "import sys; from fer.hub.client import download_checkpoint; "
        "print(download_checkpoint('tester/fer', revision=sys.argv[1]))"
    )
    first = Path(run(["-c", code, pushed["first"]], env).stdout.strip().splitlines()[-1])
    latest = Path(run(["-c", code, "main"], env).stdout.strip().splitlines()[-1])
    assert digest(first / "model.safetensors") == digest(runs["a"] / "model.safetensors")
    assert digest(latest / "model.safetensors") == digest(runs["b"] / "model.safetensors")
    assert digest(latest / "model.onnx") == digest(runs["b"] / "model.onnx") and not (first / "model.onnx").exists()
    assert "With onnxruntime alone" in (latest / "README.md").read_text()


def test_pulled_model_predicts_exactly_like_the_local_run(hub, runs, pushed, tmp_path):
    pinned = pushed["first"]
    # timm's own spelling of a pinned revision (repo@revision) works wherever a model is named
    models = [(str(runs["a"]), None), ("tester/fer", pinned), (f"tester/fer@{pinned}", None)]
    local, pulled, spelled_as_timm = predictions(models, hub_env(hub, tmp_path))
    assert pulled == local and spelled_as_timm == local


def test_private_repo_is_hidden_without_a_token(hub, runs, tmp_path):
    run(["-m", "train.push", str(runs["a"]), "tester/secret", "--private"], hub_env(hub, tmp_path))
    assert hub.repos["tester/secret"].private
    code = "from fer.hub.client import download_checkpoint; print(download_checkpoint('tester/secret'))"
    anonymous = run(["-c", code], hub_env(hub, tmp_path, token=None), check=False)
    assert "repo tester/secret was not found, or your token cannot see it" in anonymous.stderr
    assert run(["-c", code], hub_env(hub, tmp_path, token="read-token")).returncode == 0


def test_plain_timm_loads_the_pushed_model(hub, runs, pushed, tmp_path):
    code = (
        "import fer.model.networks, timm, torch; torch.manual_seed(0); x = torch.randn(2, 1, 48, 48); "
        "a = timm.create_model('hf-hub:tester/fer', pretrained=True).eval(); "
        f"b = timm.create_model('local-dir:{runs['b']}', pretrained=True).eval(); "
        "print(torch.equal(a(x), b(x)))"
    )
    assert run(["-c", code], hub_env(hub, tmp_path)).stdout.strip().endswith("True")


def test_evaluate_by_hub_id(hub, pushed, fer_zip, tmp_path):
    result = run(
        ["-m", "train.evaluate", "hf-hub:tester/fer", "--data", str(fer_zip), "--out", str(tmp_path)],
        hub_env(hub, tmp_path),
    )
    assert "validation: accuracy" in result.stdout
    assert json.loads((tmp_path / "eval_validation.json").read_text())["count"] == 3589


def test_fine_tune_from_the_hub_and_push_again(hub, pushed, fer_zip, tmp_path):
    out = tmp_path / "ft"
    env = hub_env(hub, tmp_path)
    run(
        [
            "-m",
            "train.train",
            "--no-progress",
            "--data",
            str(fer_zip),
            "--init",
            "tester/fer",
            "--out",
            str(out),
            *TINY_RUN_FLAGS,
            "--epochs",  # the last --epochs wins
            "2",
            "--freeze-epochs",
            "1",
            "--push-to-hub",
            "tester/fer-ft",
        ],
        env,
    )
    files = hub.repos["tester/fer-ft"].resolve("main")["files"]
    config = json.loads(files["config.json"])
    assert config["architecture"] == "fernet_t"  # the --init model, not the default fernet_s
    assert (
        config["pretrained_cfg"]["mean"]
        == json.loads(hub.repos["tester/fer"].resolve("main")["files"]["config.json"])["pretrained_cfg"]["mean"]
    )
    assert "Fine-tuned from `tester/fer`" in files["README.md"].decode()


def test_app_pulls_the_model_by_repo_id_and_offers_the_embedded_one_beside_it(hub, pushed, tmp_path, request):
    with running_app(env=hub_env(hub, tmp_path, FER_MODEL="tester/fer")) as server:
        client = Client(server.url, verbose=False)
        pulled = client.predict(handle_file(ONE_FACE), 1, api_name="/predict")
        embedded = client.predict(handle_file(ONE_FACE), 1, "fernet_s", api_name="/predict")
        with pytest.raises(AppError, match="Cannot use this model: there is no model '../fernet_s' here"):
            client.predict(handle_file(ONE_FACE), 1, "../fernet_s", api_name="/predict")
        config = json.loads(urllib.request.urlopen(server.url + "config").read())
        if CHROMIUM.exists():  # scripts/test.sh installs it; test_browser.py says so when it is missing
            pick_the_embedded_model_in_the_browser(request.getfixturevalue("playwright"), server.url)
    assert pulled["model"] == "fernet_t" and embedded["model"] == "fernet_s"
    (picker,) = [c["props"] for c in config["components"] if c["props"].get("elem_id") == "model-picker"]
    assert picker["value"] == "tester/fer" and picker["interactive"]
    assert [value for _, value in picker["choices"]] == ["tester/fer", "fernet_s"]
    accuracy = json.loads((EMBEDDED_CHECKPOINT / "metrics.json").read_text())["accuracy"]
    assert picker["choices"][1][0].startswith(f"fernet_s · {accuracy:.1%} validation · ")


def pick_the_embedded_model_in_the_browser(playwright, url: str) -> None:
    """Picking another model on the page describes it and analyses the photo again with it."""
    with launch(playwright) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url, wait_until="domcontentloaded")
        page.locator("#model-facts").get_by_text("fernet_t").wait_for(timeout=60_000)
        page.locator("#photo input[type=file]").set_input_files(ONE_FACE)
        page.locator("#status").get_by_text("Found 1 face").wait_for(timeout=60_000)
        scores_by_pulled_model = page.locator("#expressions").inner_text()
        page.locator("#model-picker input").click()
        page.get_by_role("option", name="fernet_s · ").click()
        page.locator("#model-facts code", has_text="fernet_s").wait_for(timeout=60_000)
        page.wait_for_function(
            "before => document.querySelector('#expressions').innerText !== before", arg=scores_by_pulled_model
        )
        page.locator("#status").get_by_text("Found 1 face").wait_for(timeout=60_000)


# --- bad cases: one clear sentence each, nothing local lost --------------------------


@pytest.mark.parametrize(
    "token, repo, message",
    [
        (None, "tester/fer-x", "no Hugging Face token: set HF_TOKEN"),
        ("read-token", "tester/fer-x", "no write access"),
        ("bogus-token", "tester/fer-x", "rejected the token"),
        ("write-token", "not a repo id!", "is not a valid Hub repo id"),
    ],
)
def test_push_failures_say_why_and_leave_the_run_intact(hub, runs, tmp_path, token, repo, message):
    before = {p.name: digest(p) for p in runs["a"].iterdir() if p.is_file() and p.name != "README.md"}
    result = run(["-m", "train.push", str(runs["a"]), repo], hub_env(hub, tmp_path, token=token), check=False)
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: ") and message in error, result.stderr
    assert {p.name: digest(p) for p in runs["a"].iterdir() if p.is_file() and p.name != "README.md"} == before


def test_a_damaged_checkpoint_is_not_pushed(hub, runs, tmp_path):
    """A push checks the weights against their header first: torn weights stay here, not on the Hub."""
    run_copy = shutil.copytree(runs["a"], tmp_path / "torn")
    weights = run_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    before = {p.name: digest(p) for p in run_copy.iterdir() if p.is_file()}
    result = run(["-m", "train.push", str(run_copy), "tester/torn"], hub_env(hub, tmp_path), check=False)
    assert result.returncode != 0
    damaged = "model.safetensors is damaged: its header and its size disagree"
    assert result.stderr.strip() == f"error: nothing pushed: {damaged}"
    assert "tester/torn" not in hub.repos
    assert {p.name: digest(p) for p in run_copy.iterdir() if p.is_file()} == before  # not even the card


def test_training_that_cannot_push_is_refused_before_it_starts_or_keeps_the_run(hub, fer_zip, tmp_path):
    """--push-to-hub with no token is refused before any work; a push the Hub refuses after training
    leaves the run, and the sentence gives the command that pushes it without training again."""
    out = tmp_path / "run"
    command = ["-m", "train.train", "--no-progress", "--data", str(fer_zip), "--out", str(out), *TINY_RUN_FLAGS,
               "--push-to-hub", "tester/late"]  # fmt: skip
    refused = run(command, hub_env(hub, tmp_path, token=None), check=False)
    assert refused.returncode == 1 and not out.exists()
    assert refused.stderr.strip() == "error: no Hugging Face token: set HF_TOKEN to a token with write access"

    kept = run(command, hub_env(hub, tmp_path, token="read-token"), check=False)
    assert kept.returncode == 1 and "tester/late" not in hub.repos
    error = kept.stderr.strip()
    assert error.startswith(f"error: the run is saved in {out} but was not pushed: your token has no write access")
    assert error.endswith(f"push it with `python -m train.push {out} tester/late`")
    run(["-m", "train.push", str(out), "tester/late"], hub_env(hub, tmp_path))
    assert "model.safetensors" in hub.repos["tester/late"].resolve("main")["files"]


def test_hub_error_then_retry_succeeds(hub, runs, tmp_path):
    env = hub_env(hub, tmp_path)
    hub.fail_next.append((r"^/api/repos/create$", 500))
    result = run(["-m", "train.push", str(runs["a"]), "tester/flaky"], env, check=False)
    assert result.returncode != 0 and "answered HTTP 500" in result.stderr and "try again" in result.stderr
    run(["-m", "train.push", str(runs["a"]), "tester/flaky"], env)
    assert "model.safetensors" in hub.repos["tester/flaky"].resolve("main")["files"]


def test_missing_repo_and_missing_revision(hub, pushed, tmp_path):
    env = hub_env(hub, tmp_path)
    code = (
        "import sys; from fer.hub.client import download_checkpoint; "
        "download_checkpoint(sys.argv[1], revision=sys.argv[2])"
    )
    missing = run(["-c", code, "tester/nope", "main"], env, check=False)
    assert "repo tester/nope was not found" in missing.stderr
    bad_revision = run(["-c", code, "tester/fer", "no-such-branch"], env, check=False)
    assert "revision does not exist" in bad_revision.stderr


def test_repo_that_is_not_a_fer_checkpoint_is_refused(hub, runs, tmp_path):
    hub.repos["tester/other"] = type(hub.repos["tester/fer"])(private=False)
    config = json.loads((runs["a"] / "config.json").read_text())
    no_labels = {k: v for k, v in config.items() if k != "label_names"}
    hub.commit(
        "tester/other",
        {
            "config.json": json.dumps(no_labels).encode(),
            "model.safetensors": (runs["a"] / "model.safetensors").read_bytes(),
        },
        "no labels",
    )
    hub.commit(
        "tester/other",
        {"config.json": json.dumps(config).encode(), "pytorch_model.bin": b"pickle"},
        "pickle only",
        branch="pickle",
    )
    env = hub_env(hub, tmp_path)
    code = (
        "import sys; from fer.hub.client import download_checkpoint; "
        "download_checkpoint('tester/other', revision=sys.argv[1])"
    )
    assert "has no label_names" in run(["-c", code, "main"], env, check=False).stderr
    assert "never loaded" in run(["-c", code, "pickle"], env, check=False).stderr


def test_app_with_a_stalled_hub_falls_back_to_the_embedded_model_visibly(hub, pushed, tmp_path):
    """The Hub accepts connections and never answers in time: huggingface_hub would retry for
    minutes, the app gives up after FER_HUB_WAIT_S and serves its embedded model."""
    env = hub_env(hub, tmp_path, FER_MODEL="tester/fer", FER_HUB_WAIT_S="3")
    hub.stall_seconds = 30
    try:
        with running_app(env=env) as server:
            hub.stall_seconds = 0
            page = Client(server.url, verbose=False)
            result = page.predict(handle_file(ONE_FACE), 1, api_name="/predict")
            import urllib.request

            with urllib.request.urlopen(server.url + "config") as response:
                config = response.read().decode()
    finally:
        hub.stall_seconds = 0
    assert result["model"] == "fernet_s"  # the embedded model
    notice = "Could not load FER_MODEL='tester/fer' (the Hub did not deliver tester/fer within 3 s)"
    assert json.dumps(plain(notice))[1:-1] in config  # shown as text: Markdown's characters escaped
    assert "serving the embedded model" in config


def test_pretrained_imagenet_weights_come_from_the_hub_with_a_one_channel_stem(hub, fer_zip, tmp_path):
    """--pretrained downloads timm's weights for a stock backbone (here served by the local
    Hub under timm's own repo id) and sums the first convolution's RGB filters into one."""
    import timm
    from safetensors.torch import save

    cfg = timm.models.get_pretrained_cfg("resnet10t")
    imagenet = timm.create_model("resnet10t", pretrained=False)  # stands in for the ImageNet weights
    hub.repos[cfg.hf_hub_id] = Repo(private=False)
    hub.commit(cfg.hf_hub_id, {"model.safetensors": save(imagenet.state_dict())}, "weights")
    env = hub_env(hub, tmp_path, token=None)

    code = (
        "import json; from argparse import Namespace; from fer.utils.device import Compute; import torch; "
        "from train.build import make_model; "
        "args = Namespace(seed=0, drop=None, init=None, pretrained=True, model='resnet10t', img_size=48); "
        "m = make_model(args, Compute(torch.device('cpu'))).model; "
        "print(json.dumps(m.conv1[0].weight.flatten().tolist()))"
    )
    stem = run(["-c", code], env).stdout.strip().splitlines()[-1]
    expected = imagenet.conv1[0].weight.sum(dim=1, keepdim=True)
    assert json.loads(stem) == pytest.approx(expected.flatten().tolist(), abs=1e-6)

    out = tmp_path / "pretrained"
    trained = run(["-m", "train.train", "--no-progress", "--data", str(fer_zip), "--out", str(out),
                   "--model", "resnet10t", "--pretrained", *TINY_RUN_FLAGS[2:]], env)  # fmt: skip
    assert (out / "model.safetensors").is_file(), trained.stdout
    assert "ImageNet weights" in (out / "README.md").read_text()

    offline = run(["-m", "train.train", "--no-progress", "--data", str(fer_zip), "--out", str(tmp_path / "offline"),
                   "--model", "resnet10t", "--pretrained", *TINY_RUN_FLAGS[2:]],
                  {**env, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-home")}, check=False)  # fmt: skip
    assert offline.returncode != 0 and "Traceback" not in offline.stderr, offline.stderr
    assert (
        offline.stderr.strip()
        .splitlines()[-1]
        .startswith("error: could not download timm's pretrained weights for 'resnet10t'")
    )
