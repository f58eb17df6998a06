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
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project, for train.data

from gpu import ROOT  # noqa: E402
from gpu.packing import PACKED, TRAVEL_LIMIT, pack, travelling_bytes, unpack  # noqa: E402
from gpu.plans import DRY_RUN_PLAN, PLANS, missing_soft_targets, planned_epochs, with_references  # noqa: E402
from gpu.results import collect, device_name  # noqa: E402
from gpu.runner import fitted_plan, probe_epoch_times, run_plan  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
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
    return p


def pack_command(args: argparse.Namespace) -> None:
    """Pack the data here, and check that it travels with the checkout."""
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


def run_command(args: argparse.Namespace) -> None:
    """Run a plan's stages in turn, each within its share of the budget, and collect the results."""
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
    summary = collect(plan, status, work, Path(args.out), device_name(), time.monotonic() - started)
    for name, run in summary["runs"].items():
        print(
            f"{name:<20} {run['status']:<45} epochs {run['epochs_done']:>4}  best {run['best_val_acc']}  "
            f"epoch {run['median_epoch_s']}s  {run['train_images_per_s']} img/s"
        )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "pack":
        pack_command(args)
    else:
        run_command(args)


if __name__ == "__main__":
    main()
