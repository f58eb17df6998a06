"""What a GPU call brings back: at most 8 files of 16 MiB (a summary, the logs, the best checkpoints)."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path

MAX_FILE_BYTES = 16 * 2**20


MAX_CHECKPOINTS = 6  # + summary.json + logs.txt = the 8 files a call may return


CHECKPOINT_FILES = ("config.json", "model.safetensors", "metrics.json", "metrics.jsonl", "train_args.json")


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


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"CPU ({os.cpu_count()} cores), torch {torch.__version__}"
