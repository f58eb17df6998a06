"""Train on a lent GPU in one call: pack the data here, run several configs there, bring results back.

Here, once (writes the git-ignored ``.devdata/fer2013.xz``, about 55 MB, lossless):

    python scripts/device_run.py pack --data ../shared/data/fer2013.zip

There, through the device tool (``carry: [".devdata"]``), as often as the lease allows:

    python3 scripts/device_run.py run --plan sweep --out $OUT --budget-s 540

Here, in CI (CPU, a tiny subset, the same code path end to end):

    python scripts/device_run.py run --dry-run --out ../fer-dry-run

``run`` unpacks the data into a work folder on the machine, starts every config of the
plan at once on the one GPU (a 48x48 data set fits in its memory many times over), sends
each run SIGTERM shortly before ``--budget-s`` (the trainer then saves its state
mid-epoch), and writes at most 8 files to ``--out``: ``summary.json`` (every run's flags,
status and per-epoch metrics), ``logs.txt`` and the best checkpoint of up to six runs as
``<run>.tar.gz``. While the machine stays warm, the next call resumes each unfinished run
from its state in the work folder; on a fresh machine, pass ``--init-dir`` with returned
checkpoints to warm-start them instead. See docs/training-on-gpu.md.
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

from fer.data import load_split, subsample  # noqa: E402

PACKED = ROOT / ".devdata" / "fer2013.xz"
MAX_FILE_BYTES = 16 * 2**20
MAX_CHECKPOINTS = 6  # + summary.json + logs.txt = the 8 files a call may return
GRACE_S = 45  # time for runs to save their state after SIGTERM, and for packing results
CHECKPOINT_FILES = ("config.json", "model.safetensors", "metrics.json", "metrics.jsonl", "train_args.json")

# Named plans: run name -> trainer flags (--data and --out are added). Epoch counts are
# upper bounds: a run stopped by the budget resumes on the next call.
GPU_FLAGS = "--batch-size 256 --save-every 10 --ema --ema-every 4"
EMBEDDED = "checkpoints/fernet_s"
PLANS: dict[str, dict[str, str]] = {
    "smoke": {"fernet_s-smoke": f"--model fernet_s --epochs 3 {GPU_FLAGS}"},
    # One lease of ~10 minutes, run with --fit: the embedded model distilled into itself over
    # a long cycle (the CPU's best recipe scaled up, and a hotter one with stronger
    # augmentation), fernet_s from scratch with two optimisers, and fernet_m as a stronger
    # teacher for later distillation on the CPU.
    "flagship": {
        "fernet_s-kd": f"--model fernet_s --init {EMBEDDED} --teacher {EMBEDDED} --epochs 120 --lr 5e-4 "
        f"--warmup-epochs 1 {GPU_FLAGS}",
        "fernet_s-kd-strong": f"--model fernet_s --init {EMBEDDED} --teacher {EMBEDDED} --epochs 120 --lr 1e-3 "
        f"--warmup-epochs 1 --aug 1.5 --seed 1 {GPU_FLAGS}",
        "fernet_s-adamw": f"--model fernet_s --epochs 300 --lr 2e-3 {GPU_FLAGS}",
        "fernet_s-sgd": f"--model fernet_s --epochs 300 --optimizer nesterov --lr 0.1 --weight-decay 5e-4 {GPU_FLAGS}",
        "fernet_m-adamw": f"--model fernet_m --epochs 300 --lr 2e-3 {GPU_FLAGS}",
    },
    "sweep": {
        "fernet_s-adamw": f"--model fernet_s --epochs 150 --lr 2e-3 {GPU_FLAGS}",
        "fernet_s-sgd": f"--model fernet_s --epochs 150 --optimizer nesterov --lr 0.1 --weight-decay 5e-4 {GPU_FLAGS}",
        "fernet_s-mix": f"--model fernet_s --epochs 150 --lr 2e-3 --mixup 0.2 --cutmix 1.0 --aug 1.5 {GPU_FLAGS}",
        "fernet_m-adamw": f"--model fernet_m --epochs 150 --lr 2e-3 {GPU_FLAGS}",
        "resnet18-64px": f"--model resnet18 --img-size 64 --epochs 100 --lr 1e-3 {GPU_FLAGS}",
    },
}
DRY_RUN_PLAN = {
    "tiny-a": "--model fernet_t --epochs 2 --train-subset 512 --val-subset 256 --batch-size 64 --save-every 1",
    "tiny-b": "--model fernet_t --epochs 1 --train-subset 512 --val-subset 256 --batch-size 64 --optimizer nesterov "
    "--lr 0.05",
}


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


TRAVEL_LIMIT = 64 * 2**20  # the device tool carries the checkout plus carried paths up to this


def travelling_bytes(extra: Path) -> int:
    """What a device call carries: tracked and untracked-not-ignored files, plus ``extra``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    files = [ROOT / name.decode() for name in listed if name]
    return sum(f.stat().st_size for f in files if f.is_file()) + extra.stat().st_size


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
FIT_MARGIN = 0.9  # epochs slow down when runs evaluate at the same moment; leave room
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


def planned_epochs(flags: str) -> int:
    words = shlex.split(flags)
    return int(words[words.index("--epochs") + 1])


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
        runs[name] = {
            "flags": flags,
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
    rn.add_argument("--dry-run", action="store_true", help="CPU, tiny subset: check the whole path")
    args = p.parse_args(argv)

    if args.command == "pack":
        dest = pack(args.data, Path(args.dest), args.limit)
        total = travelling_bytes(dest)
        print(
            f"packed {args.data} into {dest} ({dest.stat().st_size / 2**20:.1f} MiB); "
            f"checkout + data: {total / 2**20:.1f} of {TRAVEL_LIMIT / 2**20:.0f} MiB"
        )
        if total > TRAVEL_LIMIT:
            sys.exit(
                "error: the checkout and the packed data are over the device tool's 64 MiB: "
                "remove large tracked files (checkpoints other than the embedded one, images) first"
            )
        return
    started = time.monotonic()
    work, plan = Path(args.work), PLANS[args.plan]
    packed = Path(args.packed)
    if args.dry_run:
        plan = DRY_RUN_PLAN
        packed = pack(str(ROOT.parent / "shared" / "data" / "fer2013.zip"), work / "packed.xz", limit=1024)
    if args.only:
        plan = {name: plan[name] for name in args.only}
    if not packed.is_file():
        sys.exit(f"error: no packed data at {packed}: run `python scripts/device_run.py pack` here and carry .devdata")
    data = work / "fer2013.npz"
    if not data.is_file():
        unpack(packed, data)
    print(f"data unpacked in {time.monotonic() - started:.1f}s; running {', '.join(plan)}", flush=True)
    if args.fit and not (work / "runs").is_dir():  # a warm machine's next call resumes the fitted runs
        epoch_s, probe_wall_s = probe_epoch_times(plan, data, work, args.budget_s)
        plan = fitted_plan(plan, epoch_s, probe_wall_s, args.budget_s - (time.monotonic() - started))
        for name, flags in plan.items():
            print(f"{name}: {epoch_s[name]:.2f} s/epoch in the probe -> --epochs {planned_epochs(flags)}", flush=True)
    budget_left = args.budget_s - (time.monotonic() - started)
    status = run_plan(plan, data, work, budget_left, Path(args.init_dir) if args.init_dir else None)
    summary = collect(plan, status, work, Path(args.out), _device_name(), time.monotonic() - started)
    for name, run in summary["runs"].items():
        print(
            f"{name:<20} {run['status']:<45} epochs {run['epochs_done']:>4}  best {run['best_val_acc']}  "
            f"epoch {run['median_epoch_s']}s  {run['train_images_per_s']} img/s"
        )


if __name__ == "__main__":
    main()
