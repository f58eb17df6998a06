"""Land a training run as an embedded checkpoint: one command instead of a page of steps.

    python scripts/land_model.py ../runs/fernet_s-r4 --data ../shared/data/fer2013.zip

Copies the run's best epoch into ``checkpoints/<name>/`` and rebuilds everything the app,
the card and issue #10's deliverables read from it: curves, confusion matrix, report,
the validation evaluations (plain, flip TTA with corruptions, ten-crop), the int8 ONNX
export the app serves, its "uncertain" threshold (``train.calibrate``), and the model card.
It stops, leaving the old checkpoint in place, if re-evaluating the copied weights does not
reproduce the run's logged accuracy exactly.

Paths in ``train_args.json`` are rewritten relative to the repository, so that the card's
training command works on another machine and no machine's folders are published.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fer.model.onnx_classifier import INT8_FILE, REPORT_FILE  # noqa: E402
from train import calibrate, evaluate, export  # noqa: E402
from train.outputs import write_reports  # noqa: E402

RUN_FILES = ("config.json", "model.safetensors", "metrics.json", "metrics.jsonl", "train_args.json")
# The fields that hold paths, per file: the training arguments, and the teachers metrics.json records.
PATH_FIELDS = {
    "train_args.json": ("data", "out", "init", "teacher", "soft_targets"),
    "metrics.json": ("teachers", "soft_targets"),
}


def relative_to_repo(value: str) -> str:
    """An absolute path as the repository-relative path a reader of the card would type.

    A folder that exists only on the machine that trained the run (a teacher trained earlier
    in the same lent-GPU call) becomes ``@<its name>``, ``scripts/device_run.py``'s notation
    for such a run, rather than a path into that machine's ``/tmp``.
    """
    if not os.path.isabs(value):
        return value
    return os.path.relpath(value, REPO) if Path(value).exists() else "@" + Path(value).name


def copy_run(run: Path, staged: Path, data: str) -> None:
    """The run's files, their paths made repository-relative.

    A run trained on another machine (a lent GPU) names that machine's folders: its
    ``out`` becomes the folder it is landed from, and its ``data``, if not found here,
    the data the landing re-evaluates it on (the same FER2013, packed for the trip).
    """
    for name in RUN_FILES:
        shutil.copy2(run / name, staged / name)
    for name, keys in PATH_FIELDS.items():
        path = staged / name
        record = json.loads(path.read_text())
        if name == "train_args.json":
            record["out"] = str(run.resolve())
            if not Path(record["data"]).exists():
                record["data"] = data
        for key in keys:  # a string, or a list of them (--teacher takes several)
            if isinstance(record.get(key), str):
                record[key] = relative_to_repo(record[key])
            elif isinstance(record.get(key), list):
                record[key] = [relative_to_repo(value) for value in record[key]]
        path.write_text(json.dumps(record, indent=2))


def check_reproduced(staged: Path, data: str) -> float:
    """Re-evaluate the copied weights; refuse them unless they give the run's logged accuracy.

    The card then reports this evaluation's per-class figures: a run validated on a GPU
    before validation was float32 there can match in accuracy yet differ by a few faces per class.
    """
    metrics_path = staged / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    measured = evaluate.main([str(staged), "--data", data, "--split", "validation"])
    accuracy, logged = measured["accuracy"], metrics["accuracy"]
    if accuracy != logged:
        raise SystemExit(f"error: re-evaluation gave {accuracy:.6f}, the run logged {logged:.6f}; not landed")
    metrics.update({key: measured[key] for key in ("macro_f1", "per_class", "confusion_matrix")})
    metrics_path.write_text(json.dumps(metrics, indent=2))
    return accuracy


def evaluate_with_tta(staged: Path, data: str) -> None:
    """Flip TTA with corruptions, and ten-crop: the card reports both."""
    evaluate.main([str(staged), "--data", data, "--split", "validation", "--tta", "flip", "--corruptions"])
    evaluate.main([str(staged), "--data", data, "--split", "validation", "--tta", "tencrop"])
    for picture in staged.glob("eval_*_confusion.png"):
        picture.unlink()  # the training confusion matrix is the one the card shows


def export_int8(staged: Path, data: str) -> None:
    """Keep only the int8 model (if it passed) and the report: the fp32 ONNX would not fit the repo."""
    report = export.export(staged, data, int8=True)
    (staged / export.ONNX_FILE).unlink()
    if not report["int8"]["kept"]:
        cost = -report["int8"]["accuracy_change"]
        print(f"int8 export cost {cost:.4f}: not kept (the app exports fp32 on first load)")


def land(run: Path, data: str, target: Path) -> Path:
    """Build the checkpoint in a temporary folder; replace ``target`` only when all of it worked."""
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / target.name  # the card is titled after its folder
        staged.mkdir()
        copy_run(run, staged, data)
        accuracy = check_reproduced(staged, data)
        evaluate_with_tta(staged, data)
        export_int8(staged, data)
        calibrate.calibrate(staged, data)  # the app's "uncertain" threshold, for the classifier as served
        history = [json.loads(line) for line in (staged / "metrics.jsonl").read_text().splitlines() if line]
        # Plots and the card (which reads the TTA results), naming the folder it is moved to.
        write_reports(staged, history, repo_id=None, shown_as=os.path.relpath(target, REPO))
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(staged, target)
    print(f"landed {run} as {target} (validation {accuracy:.4f}); {REPORT_FILE} and {INT8_FILE} rebuilt")
    return target


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a training run folder (its best epoch is landed)")
    p.add_argument("--data", required=True, help="FER2013 zip/folder, for the evaluations and int8 calibration")
    p.add_argument("--name", default="fernet_s", help="checkpoint folder name under checkpoints/")
    args = p.parse_args(argv)
    land(args.run, args.data, REPO / "checkpoints" / args.name)


if __name__ == "__main__":
    main()
