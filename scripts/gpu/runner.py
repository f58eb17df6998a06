"""Running a plan's runs at once on one GPU, within the call's budget: probe, fit, run, stop."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from gpu import ROOT
from gpu.plans import planned_epochs, with_epochs

GRACE_S = 45  # time for runs to save their state after SIGTERM, and for packing results
POLL_S = 0.2  # how soon a run's end is noticed: the wait between checks is lent device time too


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


def _finished(out: Path) -> bool:
    """Has the run in ``out`` logged every epoch it was asked for?"""
    if not (out / "train_args.json").is_file() or not (out / "metrics.jsonl").is_file():
        return False
    wanted = json.loads((out / "train_args.json").read_text())["epochs"]
    return len((out / "metrics.jsonl").read_text().splitlines()) >= wanted


def cpu_thread_share(runs: int) -> dict[str, str]:
    """The environment that splits the CPU's cores between ``runs`` trainers started at once, as
    ``train.runtime`` splits them between torchrun's ranks: each torch would otherwise start a
    thread per core, and their spinning threads slow every run (docs/training-on-gpu.md). A thread
    count the caller set is kept."""
    if "OMP_NUM_THREADS" in os.environ or runs < 2:
        return {}
    return {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // runs))}


def run_plan(plan: dict[str, str], data: Path, work: Path, budget_s: float, init_dir: Path | None) -> dict:
    """Start every run, stop them all (SIGTERM, state saved) before the budget; their status."""
    deadline = time.monotonic() + budget_s - GRACE_S
    procs, status = {}, {}
    (work / "runs").mkdir(parents=True, exist_ok=True)
    commands = {name: _command(name, flags, data, work, init_dir) for name, flags in plan.items()}
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **cpu_thread_share(sum(map(bool, commands.values())))}
    for name, cmd in commands.items():
        if not cmd:
            status[name] = "finished earlier"
            continue
        log = open(work / "runs" / f"{name}.log", "a")  # noqa: SIM115  (closed when the run ends)
        log.write(f"$ {shlex.join(cmd)}\n")
        log.flush()
        procs[name] = (subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env), log)
        print(f"started {name}", flush=True)
    while procs and time.monotonic() < deadline:
        for name, (proc, log) in list(procs.items()):
            if proc.poll() is not None:
                status[name] = "finished" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
                log.close()
                del procs[name]
                print(f"{name}: {status[name]}", flush=True)
        if procs:
            time.sleep(POLL_S)
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
