"""The GPU recipe (scripts/device_run.py), end to end on CPU: pack, unpack, run, collect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import torch

from fer.model.checkpoint import load_checkpoint, save_checkpoint
from fer.model.labels import CLASS_NAMES
from fer.model.networks import create_model
from fer.model.preprocess import Preprocess
from tests.conftest import ROOT
from train.data import load_split

sys.path.insert(0, str(ROOT / "scripts"))
import device_run  # noqa: E402
from gpu import packing, plans, results, runner  # noqa: E402

pytestmark = pytest.mark.slow


def test_packing_is_lossless_on_real_faces(fer_zip, tmp_path):
    faces = load_split(fer_zip, "validation", progress=False).images[::7]
    assert np.array_equal(packing.decode_residuals(packing.encode_residuals(faces)), faces)

    packed = packing.pack(str(fer_zip), tmp_path / "packed.xz", limit=300)
    arrays = np.load(packing.unpack(packed, tmp_path / "data.npz"))
    assert arrays["train_images"].shape == (300, 48, 48) and arrays["validation_images"].dtype == np.uint8
    assert len(np.unique(arrays["train_labels"])) == 7  # the limit keeps every class
    # The unpacked file is a data source like any other.
    assert len(load_split(tmp_path / "data.npz", "validation", cache_dir=tmp_path / "cache", progress=False)) == 300


def test_fitting_lowers_each_runs_epochs_to_end_within_the_budget():
    plan = {
        "quick": "--model fernet_s --epochs 300 --lr 2e-3",
        "slow": "--model fernet_m --epochs 300",
        "short": "--epochs 5",
    }
    epoch_s = {"quick": 2.0, "slow": 4.0, "short": 2.0}
    # The probe ran 2 epochs in 30 s: the quick run spent 26 s starting, the slow one 22 s.
    fitted = runner.fitted_plan(plan, epoch_s, probe_wall_s=30, left_s=545)
    affordable = {"quick": int((545 - runner.GRACE_S - 26) * runner.FIT_MARGIN / 2.0), "slow": 95}
    assert fitted["quick"] == f"--model fernet_s --epochs {affordable['quick']} --lr 2e-3"
    assert plans.planned_epochs(fitted["slow"]) == affordable["slow"]
    assert fitted["short"] == "--epochs 5"  # a plan's epochs are an upper bound
    assert runner.fitted_plan({"late": "--epochs 9"}, {"late": 50.0}, 60, left_s=50) == {"late": "--epochs 1"}


def test_weights_too_large_to_come_back_travel_in_half_precision(tmp_path):
    model = create_model("fernet_m").eval()  # 6.9M parameters: 26 MiB in fp32
    save_checkpoint(model, tmp_path / "run", list(CLASS_NAMES), Preprocess())
    assert (tmp_path / "run" / "model.safetensors").stat().st_size > results.MAX_FILE_BYTES
    assert results._pack_checkpoint(tmp_path / "run", tmp_path / "run.tar.gz")
    assert (tmp_path / "run.tar.gz").stat().st_size <= results.MAX_FILE_BYTES
    with tarfile.open(tmp_path / "run.tar.gz") as tar:
        tar.extractall(tmp_path / "back", filter="data")
    back = load_checkpoint(tmp_path / "back" / "run").model
    x = torch.randn(4, 1, 48, 48)
    with torch.no_grad():
        assert torch.allclose(back(x), model(x), atol=1e-3)


def test_dry_run_trains_every_config_and_returns_at_most_8_files(tmp_path):
    """The whole path with --fit and two stages: teachers probed and trained, then a student of theirs."""
    out, work = tmp_path / "out", tmp_path / "work"
    cmd = [sys.executable, "scripts/device_run.py", "run", "--dry-run", "--fit", "--work", str(work), "--out", str(out)]
    env = {name: value for name, value in os.environ.items() if name != "OMP_NUM_THREADS"}
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["logs.txt", "summary.json", "tiny-a.tar.gz", "tiny-b.tar.gz", "tiny-student.tar.gz"]
    summary = json.loads((out / "summary.json").read_text())
    assert {name: run["status"] for name, run in summary["runs"].items()} == {
        "tiny-a": "finished",
        "tiny-b": "finished",
        "tiny-student": "finished",
    }
    student = json.loads((work / "runs" / "tiny-student" / "train_args.json").read_text())
    assert student["teacher"] == [str(work / "runs" / "tiny-a"), str(work / "runs" / "tiny-b")]
    assert "distilling from" in (work / "runs" / "tiny-student.log").read_text()
    # runs started together share the cores; a run alone has them all
    assert f"(CPU, {max(1, (os.cpu_count() or 1) // 2)} thread" in (work / "runs" / "tiny-a.log").read_text()
    ask_torch = [sys.executable, "-c", "import torch; print(torch.get_num_threads())"]
    default = subprocess.run(ask_torch, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert f"(CPU, {default} thread" in (work / "runs" / "tiny-student.log").read_text()
    assert summary["runs"]["tiny-a"]["epochs_done"] == 2 and summary["runs"]["tiny-a"]["best_val_acc"] > 0
    assert summary["runs"]["tiny-b"]["epochs_asked"] == 1  # fitted within the budget, the plan's bound kept
    with tarfile.open(out / "tiny-a.tar.gz") as tar:
        assert {"tiny-a/model.safetensors", "tiny-a/config.json"} <= set(tar.getnames())
    assert all(p.stat().st_size <= results.MAX_FILE_BYTES for p in out.iterdir())

    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)  # a warm machine's next call
    assert again.stdout.count("finished earlier") == 3, again.stdout + again.stderr


@pytest.mark.parametrize("plan", sorted(plans.PLANS))
def test_every_plan_passes_the_trainers_checks_and_names_only_earlier_runs(plan, tmp_path):
    """A typo in a plan would otherwise be found on a lent GPU, in its probe. A run may name a run
    of an earlier stage, or of another plan (a follow-up call on the still-warm machine)."""
    from train.args import build_parser, check_args

    other_plans = {
        name for key, stages in plans.PLANS.items() if key != plan for _, runs in stages for name in runs
    }
    earlier: set[str] = set()
    for _, runs in plans.PLANS[plan]:
        for name, flags in runs.items():
            references = {word[1:] for word in flags.split() if word.startswith("@")}
            unknown = references - earlier - other_plans
            assert not unknown, f"{name} names {unknown}: no earlier stage or other plan runs them"
            argv = plans.with_references(flags, tmp_path).split() + ["--data", "x", "--out", str(tmp_path / name)]
            check_args(build_parser().parse_args(argv))
        earlier |= set(runs)


def test_a_plan_whose_stored_targets_are_not_here_is_refused_before_anything_runs(monkeypatch, tmp_path):
    plan = [(1.0, {"taught": "--soft-targets .devdata/absent.npz --epochs 1", "plain": "--epochs 1"})]
    monkeypatch.setitem(plans.PLANS, "absent-targets", plan)
    packed = tmp_path / "packed.xz"
    packed.write_bytes(b"checked after the targets")
    argv = ["run", "--plan", "absent-targets", "--packed", str(packed), "--work", str(tmp_path), "--out", str(tmp_path)]
    with pytest.raises(SystemExit, match=r"distils from \.devdata/absent\.npz, not in the checkout"):
        device_run.main(argv)
    assert not (tmp_path / "fer2013.npz").exists()  # refused before unpacking


@pytest.mark.parametrize(
    "flags",
    [
        ["--plan", "distill", "--fit", "--fit-s", "800"],  # two stages: the second would start too soon
        ["--plan", "stored-long", "--fit-s", "800"],  # nothing is fitted without --fit
        ["--plan", "stored-long", "--fit", "--fit-s", "300"],  # shorter than this call
    ],
)
def test_schedules_spanning_calls_are_refused_where_they_cannot_end(flags, tmp_path):
    argv = ["run", *flags, "--budget-s", "560", "--packed", str(tmp_path / "absent.xz"), "--work", str(tmp_path)]
    with pytest.raises(SystemExit, match=r"--fit-s is for --fit with a one-stage plan, and at least --budget-s"):
        device_run.main([*argv, "--out", str(tmp_path)])


def test_a_one_stage_plan_may_be_fitted_to_two_calls(tmp_path):
    argv = ["run", "--plan", "stored-long", "--fit", "--fit-s", "800", "--budget-s", "560", "--out", str(tmp_path)]
    with pytest.raises(SystemExit, match=r"no packed data"):  # past the --fit-s check, to the data's
        device_run.main([*argv, "--packed", str(tmp_path / "absent.xz"), "--work", str(tmp_path)])
