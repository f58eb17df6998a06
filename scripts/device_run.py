"""Train on a lent GPU in one call: pack the data here, run several configs there, bring results back.

Here, once (writes the git-ignored ``.devdata/fer2013.xz``, about 55 MB, lossless):

    python scripts/device_run.py pack --data ../shared/data/fer2013.zip

and, for the ``stored`` plans, the teachers' stored predictions, ``.devdata/targets.npz``, with
``python -m train.soft_targets`` (docs/training-on-gpu.md has the command: since the five
teachers were lost with an old machine's ``../runs``, the embedded model and run 24 from git
history).

There, through the device tool (``carry: [".devdata"]``), as often as the lease allows:

    python3 scripts/device_run.py run --plan stored-long --fit --out $OUT --budget-s 560

or, to give a one-stage plan's schedules two calls, size them to both with ``--fit-s`` and make
the second call (the same command with the rest of the lease as ``--budget-s``) while the
machine is still warm: it resumes them.

Here, in CI (CPU, a tiny subset, the same code path end to end):

    python scripts/device_run.py run --dry-run --out ../fer-dry-run

``run`` unpacks the data into a work folder on the machine, runs the plan's stages in turn,
each within its share of ``--budget-s``, starts every config of a stage at once on the one
GPU (a 48x48 data set fits in its memory many times over; a later stage may distil from an
earlier stage's runs), sends each run SIGTERM shortly before its stage's time is up (the
trainer then saves its state mid-epoch), and writes at most 8 files to ``--out``:
``summary.json`` (every run's flags, status and per-epoch metrics), ``logs.txt`` and the
best checkpoint of up to six runs as ``<run>.tar.gz``. While the machine stays warm, the
next call resumes each unfinished run from its state in the work folder; on a fresh
machine, pass ``--init-dir`` with returned checkpoints to warm-start them instead. See docs/training-on-gpu.md.
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from train.data import load_split, subsample  # noqa: E402

PACKED = ROOT / ".devdata" / "fer2013.xz"
MAX_FILE_BYTES = 16 * 2**20
MAX_CHECKPOINTS = 6  # + summary.json + logs.txt = the 8 files a call may return
GRACE_S = 45  # time for runs to save their state after SIGTERM, and for packing results
CHECKPOINT_FILES = ("config.json", "model.safetensors", "metrics.json", "metrics.jsonl", "train_args.json")

# Named plans: stages of (share of the call's budget, {run name: trainer flags}); --data and
# --out are added. Runs of a stage start together; a stage starts when the one before it has
# ended, so its flags may name an earlier run's best checkpoint as ``@run`` (a teacher). Epoch
# counts are upper bounds: --fit lowers them to the stage's time, and a run stopped by the
# budget resumes on the next call.
GPU_FLAGS = "--batch-size 256 --save-every 10 --ema --ema-every 4"
EMBEDDED = "checkpoints/fernet_s"
Stage = tuple[float, dict[str, str]]
STORED_TARGETS = ".devdata/targets.npz"  # see docs/training-on-gpu.md for the command that makes it
STORED_STUDENT = f"--model fernet_s --soft-targets {STORED_TARGETS}"  # fernet_s taught by those targets
TEACHERS = f"@fernet_m-adamw @fernet_m-sgd @fernet_s-adamw {EMBEDDED}"
PLANS: dict[str, list[Stage]] = {
    "smoke": [(1.0, {"fernet_s-smoke": f"--model fernet_s --epochs 3 {GPU_FLAGS}"})],
    # The first lent GPU's call (runs 14-18 of docs/results.md): the embedded model distilled
    # into itself over a long cycle (the CPU's best recipe scaled up, and a hotter one with
    # stronger augmentation), fernet_s from scratch with two optimisers, and fernet_m.
    "flagship": [
        (
            1.0,
            {
                "fernet_s-kd": f"--model fernet_s --init {EMBEDDED} --teacher {EMBEDDED} --epochs 120 --lr 5e-4 "
                f"--warmup-epochs 1 {GPU_FLAGS}",
                "fernet_s-kd-strong": f"--model fernet_s --init {EMBEDDED} --teacher {EMBEDDED} --epochs 120 --lr 1e-3 "
                f"--warmup-epochs 1 --aug 1.5 --seed 1 {GPU_FLAGS}",
                "fernet_s-adamw": f"--model fernet_s --epochs 300 --lr 2e-3 {GPU_FLAGS}",
                "fernet_s-sgd": f"--model fernet_s --epochs 300 --optimizer nesterov --lr 0.1 --weight-decay 5e-4 "
                f"{GPU_FLAGS}",
                "fernet_m-adamw": f"--model fernet_m --epochs 300 --lr 2e-3 {GPU_FLAGS}",
            },
        )
    ],
    # The next step: teachers trained in the call (their checkpoints could not travel: the
    # data alone fills the carry), then fernet_s distilled from their averaged logits and the
    # embedded model's, from scratch and from the embedded model.
    "distill": [
        (
            0.55,
            {
                "fernet_m-adamw": f"--model fernet_m --epochs 300 --lr 2e-3 {GPU_FLAGS}",
                "fernet_m-sgd": f"--model fernet_m --epochs 300 --optimizer nesterov --lr 0.1 --weight-decay 5e-4 "
                f"{GPU_FLAGS}",
                "fernet_s-adamw": f"--model fernet_s --epochs 300 --lr 2e-3 --seed 1 {GPU_FLAGS}",
            },
        ),
        (
            0.45,
            {
                "student-scratch": f"--model fernet_s --teacher {TEACHERS} --epochs 300 --lr 2e-3 {GPU_FLAGS}",
                "student-embedded": f"--model fernet_s --init {EMBEDDED} --teacher {TEACHERS} --epochs 300 --lr 5e-4 "
                f"--warmup-epochs 1 {GPU_FLAGS}",
            },
        ),
    ],
    # The next call: "distill" taught best from the embedded model, and its student peaked by
    # epoch 42, so the teachers get most of the call (fernet_m alone, towards run 18's 190
    # epochs) and two seeds of the embedded model a short schedule. (Third GPU: runs 28-31.)
    "distill-long": [
        (
            0.72,
            {
                "fernet_m-adamw": f"--model fernet_m --epochs 300 --lr 2e-3 {GPU_FLAGS}",
                "fernet_m-sgd": f"--model fernet_m --epochs 300 --optimizer nesterov --lr 0.1 --weight-decay 5e-4 "
                f"{GPU_FLAGS}",
            },
        ),
        (
            0.28,
            {
                f"student-{seed}": f"--model fernet_s --init {EMBEDDED} --teacher @fernet_m-adamw @fernet_m-sgd "
                f"{EMBEDDED} --epochs 60 --lr 5e-4 --warmup-epochs 1 --seed {seed} {GPU_FLAGS}"
                for seed in (0, 1)
            },
        ),
    ],
    # A warm follow-up to "distill": its best student distilled on at a lower rate.
    "polish": [
        (
            1.0,
            {
                "student-polish": f"--model fernet_s --init @student-embedded --teacher {TEACHERS} --epochs 60 "
                f"--lr 2e-4 --warmup-epochs 1 {GPU_FLAGS}",
                "student-polish-hot": f"--model fernet_s --init @student-embedded --teacher {TEACHERS} --epochs 60 "
                f"--lr 5e-4 --warmup-epochs 1 --seed 1 {GPU_FLAGS}",
            },
        )
    ],
    # Distillation from stored targets (train.soft_targets): the best ensemble of every earlier
    # call's models, which cannot travel, as one 1 MB file in the carried .devdata/. Without
    # teacher passes, fernet_s trains at plain speed: from scratch for a long schedule (the
    # embedded model's own start, run 17), harder on the targets, and with AdamW (run 16). Not
    # from the embedded model: every continuation of run 24 so far scored below it (runs 25-34).
    "stored": [
        (
            1.0,
            {
                "stored-scratch": f"{STORED_STUDENT} --epochs 300 --optimizer nesterov --lr 0.1 --weight-decay 5e-4 "
                f"{GPU_FLAGS}",
                "stored-scratch-a0.8": f"{STORED_STUDENT} --kd-alpha 0.8 --epochs 300 --optimizer nesterov --lr 0.1 "
                f"--weight-decay 5e-4 --seed 1 {GPU_FLAGS}",
                "stored-scratch-adamw": f"{STORED_STUDENT} --kd-alpha 0.8 --epochs 300 --lr 2e-3 --seed 2 {GPU_FLAGS}",
            },
        )
    ],
    # "stored"'s best recipe (AdamW, kd-alpha 0.8: run 37) again at other seeds, on a short
    # schedule: the rest of the call that ran it (runs 38-40, 0.690-0.696: too short).
    "stored-seeds": [
        (
            1.0,
            {
                f"stored-adamw-{seed}": f"{STORED_STUDENT} --kd-alpha 0.8 --epochs 300 --lr 2e-3 --seed {seed} "
                f"{GPU_FLAGS}"
                for seed in (3, 4, 5)
            },
        )
    ],
    # The next call: run 37 and its "stored" siblings all peaked late (epochs 174-255 of 264-273),
    # so its recipe again for longer (--fit: about 380 epochs for three at once in a full call),
    # at two seeds and leaning harder on the targets.
    "stored-long": [
        (
            1.0,
            {
                f"stored-long-{tag}": f"{STORED_STUDENT} --kd-alpha {alpha} --epochs 500 --lr 2e-3 --seed {seed} "
                f"{GPU_FLAGS}"
                for tag, alpha, seed in (("6", 0.8, 6), ("7", 0.8, 7), ("a0.9", 0.9, 8))
            },
        )
    ],
    # The sweep's mixup point: "distill-long"'s best teacher (fernet_m, SGD, 0.7033 in 137
    # epochs on an H100) again with mixup at a light and at the published recipe's alpha.
    "mixup": [
        (
            1.0,
            {
                f"fernet_m-sgd-mixup{alpha}": f"--model fernet_m --epochs 300 --optimizer nesterov --lr 0.1 "
                f"--weight-decay 5e-4 --mixup {alpha} {GPU_FLAGS}"
                for alpha in ("0.2", "1.0")
            },
        )
    ],
}
TINY = "--model fernet_t --train-subset 512 --val-subset 256 --batch-size 64 --save-every 1"
DRY_RUN_PLAN: list[Stage] = [
    (0.6, {"tiny-a": f"{TINY} --epochs 2", "tiny-b": f"{TINY} --epochs 1 --optimizer nesterov --lr 0.05"}),
    (0.4, {"tiny-student": f"{TINY} --epochs 1 --teacher @tiny-a @tiny-b"}),
]


# --- packing: lossless and compact enough to travel with the checkout (64 MiB in all) ----


def _med_prediction(left: np.ndarray, up: np.ndarray, up_left: np.ndarray) -> np.ndarray:
    """LOCO-I/JPEG-LS's median edge detector: predicts a pixel from three neighbours."""
    low, high = np.minimum(left, up), np.maximum(left, up)
    return np.where(up_left >= high, low, np.where(up_left <= low, high, left + up - up_left))


def encode_residuals(images: np.ndarray) -> np.ndarray:
    """uint8 images -> prediction residuals (mod 256), which compress to ~80% of raw."""
    a = images.astype(np.int16)
    padded = np.pad(a, ((0, 0), (1, 0), (1, 0)))
    predicted = _med_prediction(padded[:, 1:, :-1], padded[:, :-1, 1:], padded[:, :-1, :-1])
    return ((a - predicted) % 256).astype(np.uint8)


def decode_residuals(residuals: np.ndarray) -> np.ndarray:
    """Inverse of ``encode_residuals``: row by row, pixel by pixel, vectorised over images."""
    n, h, w = residuals.shape
    out = np.zeros((n, h + 1, w + 1), dtype=np.int16)
    res = residuals.astype(np.int16)
    for y in range(1, h + 1):
        for x in range(1, w + 1):
            predicted = _med_prediction(out[:, y, x - 1], out[:, y - 1, x], out[:, y - 1, x - 1])
            out[:, y, x] = (predicted + res[:, y - 1, x - 1]) % 256
    return out[:, 1:, 1:].astype(np.uint8)


def pack(data: str, dest: Path = PACKED, limit: int = 0) -> Path:
    """Train and validation splits of ``data`` as residual arrays in one xz file."""
    arrays = {}
    for split in ("train", "validation"):
        decoded = load_split(data, split)
        if limit:
            decoded = subsample(decoded, limit)
        images, labels = decoded.images, decoded.labels
        arrays[f"{split}_residuals"] = encode_residuals(images)
        arrays[f"{split}_labels"] = labels.astype(np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    return dest


# The device tool carries the checkout plus carried paths up to 64 MiB, by a count a little
# above the files' bytes: it refused 63.95 MiB by ours (2026-11-26), so keep half a MiB spare.
TRAVEL_LIMIT = int(63.5 * 2**20)


def travelling_bytes(carried: Path) -> int:
    """What a device call carries: tracked and untracked-not-ignored files, plus every file in the
    ``carried`` folder (the packed data, and stored soft targets beside it)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    files = [ROOT / name.decode() for name in listed if name]
    files += list(carried.rglob("*"))
    return sum(f.stat().st_size for f in files if f.is_file())


def unpack(source: Path, dest: Path) -> Path:
    """The packed file as an .npz of plain arrays that ``--data`` reads."""
    with np.load(io.BytesIO(lzma.decompress(source.read_bytes())), allow_pickle=False) as packed:
        arrays = {}
        for split in ("train", "validation"):
            arrays[f"{split}_images"] = decode_residuals(packed[f"{split}_residuals"])
            arrays[f"{split}_labels"] = packed[f"{split}_labels"].astype(np.int64)
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dest, **arrays)
    return dest


# --- running: every config at once, within the budget ------------------------------------


def _command(name: str, flags: str, data: Path, work: Path, init_dir: Path | None) -> list[str]:
    out = work / "runs" / name
    cmd = [sys.executable, "-m", "train.train", "--data", str(data), "--out", str(out), "--no-progress"]
    if _finished(out):
        return []
    if (out / "last" / "state.json").is_file():
        return cmd + ["--resume"]  # the machine stayed warm: continue exactly
    if (out / "config.json").is_file():
        return []  # stopped without a saved state: nothing to continue from
    warm_start = init_dir / name if init_dir else None
    if warm_start and (warm_start / "model.safetensors").is_file():
        return cmd + shlex.split(flags) + ["--init", str(warm_start)]
    return cmd + shlex.split(flags)


PROBE_EPOCHS = 2  # the second epoch's time is the measure: the first pays for cuDNN's autotuning
FIT_MARGIN = 0.8  # the probe under-measures sharing (its runs start staggered): on the H200, fernet_m fitted
# with 0.9 did 173 of 190 epochs in time, and the fernet_s runs ended just before the deadline
PROBE_LIMIT_S = 150  # a probe that hangs must not spend the whole call


def probe_epoch_times(plan: dict[str, str], data: Path, work: Path, budget_s: float) -> tuple[dict[str, float], float]:
    """Every run of the plan, at once, for PROBE_EPOCHS: seconds per epoch of each, and the wall time."""
    probe = {name: with_epochs(flags, PROBE_EPOCHS) for name, flags in plan.items()}
    started = time.monotonic()
    run_plan(probe, data, work / "probe", min(budget_s, PROBE_LIMIT_S), None)
    times = {}
    for name in plan:
        history = work / "probe" / "runs" / name / "metrics.jsonl"
        lines = history.read_text().splitlines() if history.is_file() else []
        if len(lines) < PROBE_EPOCHS:  # left out of the plan, its log shown: the others go on
            log = (work / "probe" / "runs" / f"{name}.log").read_text().splitlines()[-20:]
            print(f"{name}: the probe did not finish; left out. Its log ends:", *log, sep="\n", flush=True)
            continue
        times[name] = json.loads(lines[-1])["epoch_time"]
    if not times:
        raise SystemExit("error: no run of the plan finished its probe")
    return times, time.monotonic() - started


def fitted_plan(plan: dict[str, str], epoch_s: dict[str, float], probe_wall_s: float, left_s: float) -> dict[str, str]:
    """Each run's --epochs lowered so that its whole schedule ends within ``left_s``.

    A cosine schedule cut short by the budget never anneals; one sized to the time left
    does. Start-up costs what the probe spent outside its epochs; runs measured together
    are timed together, so the slowest epochs of a shared GPU are what is counted.
    """
    fitted = {}
    for name, flags in plan.items():
        if name not in epoch_s:
            continue
        start_up = max(probe_wall_s - PROBE_EPOCHS * epoch_s[name], 0.0)
        affordable = int((left_s - GRACE_S - start_up) * FIT_MARGIN / epoch_s[name])
        fitted[name] = with_epochs(flags, max(1, min(affordable, planned_epochs(flags))))
    return fitted


def missing_soft_targets(stages: list[Stage]) -> list[str]:
    """The ``--soft-targets`` files the plan names that are not here: refused before the call
    spends its probe on runs that would all fail."""
    named = set()
    for _, runs in stages:
        for flags in runs.values():
            words = shlex.split(flags)
            named |= {words[i + 1] for i, word in enumerate(words[:-1]) if word == "--soft-targets"}
    return sorted(name for name in named if not (ROOT / name).is_file())


def planned_epochs(flags: str) -> int:
    words = shlex.split(flags)
    return int(words[words.index("--epochs") + 1])


def with_references(flags: str, work: Path) -> str:
    """``@run`` -> that run's folder in ``work`` (its best checkpoint): a teacher trained earlier in the call."""
    return shlex.join(str(work / "runs" / word[1:]) if word.startswith("@") else word for word in shlex.split(flags))


def with_epochs(flags: str, epochs: int) -> str:
    words = shlex.split(flags)
    words[words.index("--epochs") + 1] = str(epochs)
    return shlex.join(words)


def _finished(out: Path) -> bool:
    """Has the run in ``out`` logged every epoch it was asked for?"""
    if not (out / "train_args.json").is_file() or not (out / "metrics.jsonl").is_file():
        return False
    wanted = json.loads((out / "train_args.json").read_text())["epochs"]
    return len((out / "metrics.jsonl").read_text().splitlines()) >= wanted


def run_plan(plan: dict[str, str], data: Path, work: Path, budget_s: float, init_dir: Path | None) -> dict:
    """Start every run, stop them all (SIGTERM, state saved) before the budget; their status."""
    deadline = time.monotonic() + budget_s - GRACE_S
    procs, status = {}, {}
    (work / "runs").mkdir(parents=True, exist_ok=True)
    for name, flags in plan.items():
        cmd = _command(name, flags, data, work, init_dir)
        if not cmd:
            status[name] = "finished earlier"
            continue
        log = open(work / "runs" / f"{name}.log", "a")  # noqa: SIM115  (closed when the run ends)
        log.write(f"$ {shlex.join(cmd)}\n")
        log.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        procs[name] = (subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env), log)
        print(f"started {name}", flush=True)
    while procs and time.monotonic() < deadline:
        for name, (proc, log) in list(procs.items()):
            if proc.poll() is not None:
                status[name] = "finished" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
                log.close()
                del procs[name]
                print(f"{name}: {status[name]}", flush=True)
        time.sleep(1)
    for proc, _ in procs.values():
        proc.send_signal(signal.SIGTERM)
    for name, (proc, log) in procs.items():
        try:
            proc.wait(timeout=GRACE_S - 15)
            status[name] = "stopped by the budget; state saved (resume on the next call)"
        except subprocess.TimeoutExpired:
            proc.kill()
            status[name] = "killed: did not stop in time after SIGTERM"
        log.close()
    return status


def collect(plan: dict[str, str], status: dict, work: Path, out: Path, device: str, elapsed: float) -> dict:
    """summary.json, logs.txt and the best runs' checkpoints (at most 8 files in ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    runs, logs = {}, []
    for name, flags in plan.items():
        folder = work / "runs" / name
        history_file = folder / "metrics.jsonl"
        history = [json.loads(line) for line in history_file.read_text().splitlines()] if history_file.is_file() else []
        best = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
        times = sorted(r["epoch_time"] for r in history)
        args_file = folder / "train_args.json"  # what the run was started with (fitted), also on a resuming call
        runs[name] = {
            "flags": flags,
            "epochs_asked": json.loads(args_file.read_text())["epochs"] if args_file.is_file() else None,
            "status": status.get(name, "not started"),
            "epochs_done": len(history),
            "best_val_acc": best.get("accuracy"),
            "best_val_macro_f1": best.get("macro_f1"),
            "best_epoch": best.get("epoch"),
            "median_epoch_s": times[len(times) // 2] if times else None,
            "train_images_per_s": history[-1]["train_images_per_s"] if history else None,
            "history": [
                {k: r[k] for k in ("epoch", "train_loss", "train_acc", "val_acc", "val_macro_f1", "lr")}
                for r in history
            ],
        }
        log_file = work / "runs" / f"{name}.log"
        if log_file.is_file():
            logs.append(f"===== {name} =====\n" + "\n".join(log_file.read_text().splitlines()[-60:]))
    ranked = sorted((n for n in runs if runs[n]["best_val_acc"] is not None), key=lambda n: -runs[n]["best_val_acc"])
    for name in ranked[:MAX_CHECKPOINTS]:
        runs[name]["returned"] = _pack_checkpoint(work / "runs" / name, out / f"{name}.tar.gz")
    summary = {"device": device, "wall_s": round(elapsed, 1), "runs": runs}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "logs.txt").write_text("\n\n".join(logs)[-4_000_000:])
    return summary


def _pack_checkpoint(folder: Path, dest: Path) -> bool:
    """The checkpoint as one tarball; weights too large to come back are stored in fp16."""
    with tarfile.open(dest, "w:gz") as tar, tempfile.TemporaryDirectory() as tmp:
        for name in CHECKPOINT_FILES:
            path = folder / name
            if name == "model.safetensors" and path.is_file() and path.stat().st_size > MAX_FILE_BYTES * 0.9:
                path = _half_precision(path, Path(tmp) / name)
            if path.is_file():
                tar.add(path, arcname=f"{folder.name}/{name}")
    if dest.stat().st_size > MAX_FILE_BYTES:
        dest.unlink()
        return False
    return True


def _half_precision(weights: Path, dest: Path) -> Path:
    """fp16 floating tensors (loading casts them back): a 7M-parameter model in under 16 MiB."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(weights)
    save_file({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}, dest)
    return dest


def _device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"CPU ({os.cpu_count()} cores), torch {torch.__version__}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python scripts/device_run.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    pk = sub.add_parser("pack", help="pack train+validation into .devdata/fer2013.xz (run here)")
    pk.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "fer2013.zip"))
    pk.add_argument("--dest", default=str(PACKED))
    pk.add_argument("--limit", type=int, default=0, help="only the first N images of each split (tests)")
    rn = sub.add_parser("run", help="run a plan within a time budget (run on the GPU machine)")
    rn.add_argument("--plan", default="smoke", choices=sorted(PLANS))
    rn.add_argument("--only", nargs="+", default=None, help="run only these runs of the plan")
    rn.add_argument("--packed", default=str(PACKED))
    rn.add_argument(
        "--work",
        default=str(Path(tempfile.gettempdir()) / "fer-device"),
        help="kept between calls while the machine is warm (default: fer-device in the system's temp folder)",
    )
    rn.add_argument("--out", default=os.environ.get("OUT", "device-out"))
    rn.add_argument("--budget-s", type=float, default=540, help="wall-clock budget of this call")
    rn.add_argument("--init-dir", default=None, help="returned checkpoints (<dir>/<run>/) to warm-start from")
    rn.add_argument(
        "--fit",
        action="store_true",
        help="probe each run's epoch time first, then lower --epochs so every schedule ends within the budget",
    )
    rn.add_argument(
        "--fit-s",
        type=float,
        default=None,
        help="with --fit and a one-stage plan: seconds the schedules may span, this call and the warm calls "
        "that resume them (default: --budget-s)",
    )
    rn.add_argument("--dry-run", action="store_true", help="CPU, tiny subset: check the whole path")
    args = p.parse_args(argv)

    if args.command == "pack":
        dest = pack(args.data, Path(args.dest), args.limit)
        total = travelling_bytes(dest.parent)
        print(
            f"packed {args.data} into {dest} ({dest.stat().st_size / 2**20:.1f} MiB); "
            f"checkout + data: {total / 2**20:.2f} MiB, {TRAVEL_LIMIT / 2**20:.1f} at most"
        )
        if total > TRAVEL_LIMIT:
            sys.exit(
                "error: the checkout and the packed data are over what the device tool carries: move files "
                "training does not read (checkpoints/*/model_int8.onnx, fer/pipeline/centerface_int8.onnx, "
                "other checkpoints) "
                "out of the checkout for the call, and back after it"
            )
        return
    started = time.monotonic()
    work, stages = Path(args.work), PLANS[args.plan]
    packed = Path(args.packed)
    if args.dry_run:
        stages = DRY_RUN_PLAN
        packed = pack(str(ROOT.parent / "shared" / "data" / "fer2013.zip"), work / "packed.xz", limit=1024)
    if args.only:
        stages = [(share, {n: f for n, f in runs.items() if n in args.only}) for share, runs in stages]
        stages = [(share, runs) for share, runs in stages if runs]
    if args.fit_s is not None and (not args.fit or len(stages) > 1 or args.fit_s < args.budget_s):
        sys.exit("error: --fit-s is for --fit with a one-stage plan, and at least --budget-s: a later stage "
                 "would start before the schedules it follows have ended")  # fmt: skip
    if not packed.is_file():
        sys.exit(f"error: no packed data at {packed}: run `python scripts/device_run.py pack` here and carry .devdata")
    missing = missing_soft_targets(stages)
    if missing:
        sys.exit(f"error: the plan distils from {', '.join(missing)}, not in the checkout: make it here with "
                 "`python -m train.soft_targets` (docs/training-on-gpu.md) and carry .devdata")  # fmt: skip
    data = work / "fer2013.npz"
    if not data.is_file():
        unpack(packed, data)
    print(f"data unpacked in {time.monotonic() - started:.1f}s", flush=True)
    plan, status = {}, {}
    for index, (share, runs) in enumerate(stages):
        runs = {name: with_references(flags, work) for name, flags in runs.items()}
        shares_left = sum(later for later, _ in stages[index:])
        stage_started = time.monotonic()
        stage_budget = (args.budget_s - (stage_started - started)) * share / shares_left
        # what the schedules are fitted to: this call, or with --fit-s this call and its warm follow-ups
        stage_fit_s = ((args.fit_s or args.budget_s) - (stage_started - started)) * share / shares_left
        print(f"stage {index + 1} of {len(stages)} ({stage_budget:.0f} s): {', '.join(runs)}", flush=True)
        if args.fit and not any((work / "runs" / name).is_dir() for name in runs):  # a warm call resumes instead
            epoch_s, probe_wall_s = probe_epoch_times(runs, data, work, stage_budget)
            runs = fitted_plan(runs, epoch_s, probe_wall_s, stage_fit_s - (time.monotonic() - stage_started))
            for name, flags in runs.items():
                print(
                    f"{name}: {epoch_s[name]:.2f} s/epoch in the probe -> --epochs {planned_epochs(flags)}", flush=True
                )
        budget_left = stage_budget - (time.monotonic() - stage_started)
        status |= run_plan(runs, data, work, budget_left, Path(args.init_dir) if args.init_dir else None)
        plan |= runs
    summary = collect(plan, status, work, Path(args.out), _device_name(), time.monotonic() - started)
    for name, run in summary["runs"].items():
        print(
            f"{name:<20} {run['status']:<45} epochs {run['epochs_done']:>4}  best {run['best_val_acc']}  "
            f"epoch {run['median_epoch_s']}s  {run['train_images_per_s']} img/s"
        )


if __name__ == "__main__":
    main()
