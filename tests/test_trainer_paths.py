"""The trainer's GPU paths, each run through its CPU twin, plus its guards against bad input.

channels_last, fp16 with loss scaling, bf16, torch.compile (and its fallback), resume
after SIGTERM mid-epoch, the non-finite-loss stop, distillation, ten-crop TTA and the
benchmark: everything a lent GPU would run, checked here on real FER2013 images first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import timm
import torch

from fer.model.checkpoint import load_checkpoint
from fer.model.inference import class_probabilities
from fer.model.preprocess import Preprocess
from fer.model.transforms import tta_views
from fer.utils.device import full_float32
from tests.conftest import RESUME_FLAGS, ROOT, TINY_RUN_FLAGS, train_in_process
from train import soft_targets
from train.args import check_args, parse_args
from train.data import load_split, subsample
from train.distill import distillation_loss
from train.train import main as train_main

pytestmark = pytest.mark.slow


def train(*flags: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "train.train", "--no-progress", *flags]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def one_sentence_error(result: subprocess.CompletedProcess, *phrases: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error:"), result.stderr
    for phrase in phrases:
        assert phrase in last, last


def test_channels_last_run_stopped_by_sigterm_resumes_bit_exact_and_loads_in_timm(fer_zip, resume_reference, tmp_path):
    """Stopped early in its second epoch: its state is saved then (it saves every 5 epochs otherwise)."""
    reference, stopped = resume_reference, tmp_path / "stopped"

    cmd = [sys.executable, "-m", "train.train", "--no-progress", "--data", str(fer_zip), "--out", str(stopped)]
    process = subprocess.Popen(cmd + RESUME_FLAGS, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (stopped / "metrics.jsonl").is_file() or not (stopped / "metrics.jsonl").read_text():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # early in epoch 2
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and "stopped by SIGTERM at epoch 2" in stderr, stderr
    state = json.loads((stopped / "last" / "state.json").read_text())["state"]["__dict__"]
    assert dict((k, v) for k, v in state if k in ("epoch", "step"))["epoch"] == 1  # saved mid-run

    resumed = ok(train("--data", str(fer_zip), "--out", str(stopped), "--resume"))
    assert "resumed" in resumed.stdout and "channels_last" in resumed.stdout
    assert (stopped / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    drop = {"epoch_time", "train_images_per_s"}
    lines = [json.loads(line) for line in (stopped / "metrics.jsonl").read_text().splitlines()]
    want = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert [{k: v for k, v in r.items() if k not in drop} for r in lines] == [
        {k: v for k, v in r.items() if k not in drop} for r in want
    ]

    import fer.model.networks  # noqa: F401  (registers fernet_* with timm)

    model = timm.create_model(f"local-dir:{stopped}", pretrained=True).eval()
    val = subsample(load_split(fer_zip, "validation", progress=False), 512, seed=1)  # RESUME_FLAGS' subset
    metrics = json.loads((stopped / "metrics.json").read_text())
    probs = class_probabilities(
        model, torch.from_numpy(val.images), Preprocess.from_pretrained_cfg(model.pretrained_cfg)
    )
    assert (probs.argmax(1).numpy() == val.labels).mean() == metrics["accuracy"]


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_reduced_precision_trains_on_cpu(fer_zip, tmp_path, precision, capsys):
    """fp16 runs through the GradScaler a GPU without bf16 would use; bf16 through autocast."""
    out = tmp_path / precision
    # Two steps: reduced-precision convolutions are emulated on a CPU (fp16 ~10 s a step).
    flags = [*TINY_RUN_FLAGS, "--train-subset", "128", "--precision", precision]
    status, stdout, stderr = train_in_process(capsys, "--data", str(fer_zip), "--out", str(out), *flags)
    assert status == 0, stderr
    assert f"cpu (CPU, {torch.get_num_threads()} thread" in stdout and f"), {precision}, channels_last" in stdout
    logged = json.loads((out / "metrics.json").read_text())["accuracy"]
    assert logged > 0
    # Validation ran in float32 whatever the training precision: a float32 re-evaluation agrees.
    loaded = load_checkpoint(out)
    val = subsample(load_split(fer_zip, "validation", progress=False), 256, seed=0)
    probs = class_probabilities(loaded.model, torch.from_numpy(val.images), loaded.preprocess)
    assert (probs.argmax(1).numpy() == val.labels).mean() == logged


def test_gpu_validation_turns_tf32_off_and_restores_it_for_training():
    """On a GPU, inference computes in true float32 (as the CPU re-evaluating it does)."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # as training sets them
        with full_float32(torch.device("cuda")):
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        with full_float32(torch.device("cpu")):
            assert torch.backends.cuda.matmul.allow_tf32  # nothing to change off a GPU
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_compile_failure_falls_back_to_eager_with_a_warning(fer_zip, tmp_path):
    env = {**os.environ, "CXX": "/nonexistent/c++"}  # inductor cannot build its kernels
    result = ok(train("--data", str(fer_zip), "--out", str(tmp_path / "run"), *TINY_RUN_FLAGS, "--compile", env=env))
    assert "warning: torch.compile failed" in result.stdout and "training without it" in result.stdout
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_non_finite_loss_stops_every_rank_with_one_sentence(fer_zip, tmp_path):
    flags = ["--optimizer", "sgd", "--lr", "1e30", "--warmup-epochs", "0", "--check-every", "2"]
    result = train("--data", str(fer_zip), "--out", str(tmp_path / "run"), *TINY_RUN_FLAGS, *flags)
    one_sentence_error(result, "loss became non-finite", "lower --lr")
    assert not (tmp_path / "run" / "model.safetensors").exists()  # nothing bad was saved as "best"


BAD_FLAGS = [
    (["--epochs", "0"], "--epochs must be positive"),
    (["--epochs", "-1"], "--epochs must be positive"),
    (["--batch-size", "0"], "--batch-size must be positive"),
    (["--batch-size", "-4"], "--batch-size must be positive"),
    (["--lr", "0"], "--lr must be positive"),
    (["--aug", "-5"], "--aug must be zero or more"),
    (["--model", "resnet1800"], "unknown model 'resnet1800'"),
    (["--kd-alpha", "2"], "--kd-alpha must be between 0 and 1"),
    (["--pretrained", "--model", "fernet_s"], "no pretrained weights for 'fernet_s'"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags_get_one_sentence(fer_zip, tmp_path, flags, message, capsys):
    from train.train import cli

    code = cli(["--data", str(fer_zip), "--out", str(tmp_path / "run"), "--no-progress", *flags])
    err = capsys.readouterr().err
    assert code != 0 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.filterwarnings("ignore:.*(skipped|no images for class)")
def test_misplaced_splits_and_empty_csv_are_explained(tmp_path, capsys):
    import zipfile

    from tests.conftest import face_png
    from train.train import cli

    archive = tmp_path / "misplaced.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("data/training_set/happy/0.png", face_png(0))
    assert cli(["--data", str(archive), "--out", str(tmp_path / "a"), "--no-progress"]) != 0
    err = capsys.readouterr().err.strip()
    assert "no 'train' split" in err and "found folders" in err and "training_set" in err, err

    csv = tmp_path / "fer2013.csv"
    csv.write_text("emotion,pixels,Usage\n3,1 2 3,Training\n")
    assert cli(["--data", str(csv), "--out", str(tmp_path / "b"), "--no-progress"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "no usable train images (1 skipped" in err and len(err.splitlines()) == 1, err


def test_distillation_from_a_teacher(tiny_run, fer_zip, tmp_path, capsys):
    teacher = tiny_run
    student = tmp_path / "student"
    flags = ["--teacher", str(teacher), "--kd-alpha", "0.7", "--kd-temperature", "3", *TINY_RUN_FLAGS]
    status, stdout, stderr = train_in_process(capsys, "--data", str(fer_zip), "--out", str(student), *flags)
    assert status == 0, stderr
    assert f"distilling from {teacher}" in stdout
    metrics = json.loads((student / "metrics.json").read_text())
    assert metrics["teachers"] == [str(teacher)] and metrics["kd_alpha"] == 0.7
    card = (student / "README.md").read_text()
    assert f"Distilled from `{teacher}`" in card and "temperature 3.0" in card
    assert f" --teacher {teacher} " in card  # the card's command, runnable as written


@pytest.fixture(scope="module")
def packed_subset(fer_zip, tmp_path_factory):
    """512 training and 256 validation faces as packed arrays (the data a lent GPU reads), the
    training faces being the ones ``--train-subset 512`` picks from the archive."""
    path = tmp_path_factory.mktemp("packed") / "subset.npz"
    train_split = subsample(load_split(fer_zip, "train", progress=False), 512)
    val_split = subsample(load_split(fer_zip, "validation", progress=False), 256)
    np.savez(path, train_images=train_split.images, train_labels=train_split.labels,
             validation_images=val_split.images, validation_labels=val_split.labels)  # fmt: skip
    return path


def test_distillation_from_stored_soft_targets(packed_subset, fer_zip, tmp_path, capsys):
    """Targets stored once from a teacher, then a student taught from them, on the packed data
    and on the same faces picked out of the archive (rows follow images, not positions)."""
    embedded = str(ROOT / "checkpoints" / "fernet_s")
    targets = tmp_path / "targets.npz"
    make = ["--data", str(packed_subset), "--teacher", embedded, "--out", str(targets), "--temperature", "3"]
    soft_targets.main([*make, "--no-progress"])
    stored = soft_targets.load(targets)
    faces = load_split(packed_subset, "train", progress=False).images
    teacher = load_checkpoint(embedded)
    direct = soft_targets.softened(class_probabilities(teacher.model, torch.from_numpy(faces), teacher.preprocess,
                                                       tta="flip"), 3.0)  # fmt: skip
    assert np.allclose(stored.rows_for(faces, "targets"), direct.numpy(), atol=1e-6)
    assert stored.teachers == [embedded] and stored.temperature == 3.0

    flags = ["--soft-targets", str(targets), "--kd-temperature", "3", "--kd-alpha", "0.7", *TINY_RUN_FLAGS]
    for data in (packed_subset, fer_zip):  # the archive with --train-subset 512: the same faces
        student = tmp_path / f"student-{data.suffix[1:]}"
        status, stdout, stderr = train_in_process(capsys, "--data", str(data), "--out", str(student), *flags)
        assert status == 0, stderr
        assert f"distilling from {targets}: 1 teachers' stored targets (alpha 0.7, T 3.0)" in stdout
    metrics = json.loads((student / "metrics.json").read_text())
    assert metrics["teachers"] == [embedded] and metrics["soft_targets"] == str(targets)
    assert f"through their predictions stored in `{targets}`" in (student / "README.md").read_text()

    other_faces = ["--data", str(fer_zip), "--out", str(tmp_path / "other"), *flags, "--train-subset", "600"]
    status, _, stderr = train_in_process(capsys, *other_faces)
    assert status == 1 and stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    assert "training images have no soft target in" in stderr and "made for other data" in stderr
    with pytest.raises(ValueError, match="softened at temperature 3; pass --kd-temperature 3"):
        train_main(["--data", str(packed_subset), "--out", str(tmp_path / "hot"), *flags[:2], *TINY_RUN_FLAGS])
    (tmp_path / "not.npz").write_text("not arrays")
    with pytest.raises(ValueError, match="is not a soft-target file"):
        soft_targets.load(tmp_path / "not.npz")


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [(["--teacher", "checkpoints/fernet_s"], "pass one of them"), (["--mixup", "0.2"], "cannot follow mixup")],
)
def test_stored_soft_targets_refuse_what_they_cannot_serve(extra, phrase, tmp_path):
    args = parse_args(["--data", "d", "--out", str(tmp_path), "--soft-targets", "t.npz", *extra])
    with pytest.raises(SystemExit, match=phrase):
        check_args(args)


def test_distillation_loss_is_zero_only_when_the_student_matches():
    logits = torch.randn(16, 7)
    soft = (logits / 4).softmax(1)
    assert distillation_loss(logits, soft, 4.0).abs() < 1e-6
    assert distillation_loss(torch.randn(16, 7), soft, 4.0) > 1e-3


def test_tencrop_views_and_probabilities(fer_zip):
    faces = torch.from_numpy(load_split(fer_zip, "validation", progress=False).images[:64])
    views = tta_views(faces, "tencrop")
    assert len(views) == 10 and all(v.shape == (64, 42, 42) for v in views)
    assert torch.equal(views[5], views[0].flip(-1))  # the mirrors follow the five crops
    model = timm.create_model("fernet_t", num_classes=7).eval()
    probs = class_probabilities(model, faces, Preprocess(), tta="tencrop")
    assert probs.shape == (64, 7) and torch.allclose(probs.sum(1), torch.ones(64))


def test_bench_times_the_trainers_step_per_variant(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "train.bench", "--model", "fernet_t", "--steps", "2", "--repeats", "5",
           "--variants", "eager", "channels_last", "--out", str(out)]  # fmt: skip
    ok(subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600))
    report = json.loads(out.read_text())
    assert [r["variant"] for r in report["training"]] == ["eager", "channels_last"]
    assert report["ratio_vs_eager"]["eager"] == 1.0 and report["ratio_vs_eager"]["channels_last"] > 0
    assert report["inference"]["cpu_latency_ms_batch1"] > 0


def test_bench_refuses_what_it_cannot_time_before_timing(tmp_path, capsys):
    from train import bench

    out = str(tmp_path / "bench.json")
    with pytest.raises(SystemExit):
        bench.main(["--steps", "0", "--out", out])
    assert capsys.readouterr().err.strip().endswith("error: --batch-size, --steps and --repeats must be at least 1")
    with pytest.raises(ValueError, match="^unknown model 'nope'; see timm.list_models"):
        bench.main(["--model", "nope", "--out", out])
    with pytest.raises(SystemExit):
        bench.main(["--model", "fernet_t", "--out", str(tmp_path)])
    assert f"argument --out: cannot write {tmp_path}: it is a folder; name a file" in capsys.readouterr().err
