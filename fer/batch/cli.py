"""``python -m fer.batch INPUT... --out OUT``: arguments, the engine, and a one-line account."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from tqdm import tqdm

import fer.batch
from fer.batch.local import run_local
from fer.batch.records import RANGE_FRAMES, FileResult
from fer.batch.sources import find_sources
from fer.batch.store import FileStore, ParquetStore
from fer.hub.resolve import resolve_checkpoint
from fer.model.checkpoint_files import CheckpointError
from fer.model.checkpoint_info import CheckpointInfo, read_checkpoint_info

USAGE = fer.batch.__doc__ or ""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fer.batch", description=USAGE.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("inputs", nargs="+", help="folders, globs ('data/**/*.jpg'), text files listing paths, or files")
    p.add_argument("--out", type=Path, required=True, help="a folder (Parquet, resumable), or a .csv or .json file")
    p.add_argument("--model", default=None, help="checkpoint folder or Hub id (default: $FER_MODEL or embedded)")
    p.add_argument("--every", type=int, default=1, help="video: use every N-th frame (faces are tracked across them)")
    p.add_argument("--tta", action="store_true", help="average with the mirrored face")
    p.add_argument("--engine", choices=("local", "ray"), default="local", help="one process, or Ray Data workers")
    p.add_argument("--workers", type=int, default=2, help="ray: workers, each holding the model (default 2)")
    p.add_argument("--address", default=None, help="ray: a running cluster's address (default: a local Ray)")
    p.add_argument(
        "--range-frames", type=int, default=RANGE_FRAMES, help=f"ray: video frames per task (default {RANGE_FRAMES})"
    )
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if min(args.every, args.workers, args.range_frames) < 1:
        p.error("--every, --workers and --range-frames must be at least 1")
    try:
        sources = find_sources(args.inputs, output=args.out)
        folder = resolve_checkpoint(args.model)
        info = read_checkpoint_info(folder)
        store = open_store(args, info)
    except (ValueError, OSError) as exc:  # CheckpointError and HubError's sentences included
        p.exit(2, f"error: {exc}\n")
    done = store.done()  # read once: a run of millions of files must not reread it per file
    pending = [source for source in sources if source.name not in done]
    skipped = len(sources) - len(pending)
    if skipped:
        print(f"resuming: {skipped} of {len(sources)} files are done already")
    errors: list[str] = []
    bar = tqdm(total=len(pending), desc="files", unit="file", disable=args.no_progress)
    frames = 0

    def commit(result: FileResult) -> None:
        nonlocal frames
        store.commit(result)
        frames += result.frames
        bar.set_postfix(video_frames=frames, refresh=False)
        bar.update()
        if result.error:
            errors.append(f"{result.source}: {result.error}")

    try:
        if args.engine == "ray":
            from fer.batch.distributed import connect, run_ray

            connect(args.address, args.workers)
            labels = info.label_names
            run_ray(pending, args.model, args.tta, args.every, args.workers, labels, commit, args.range_frames)
        else:
            from fer.pipeline.predict import Predictor

            run_local(pending, Predictor(folder, flip_tta=args.tta), args.every, commit)
    except (CheckpointError, ValueError) as exc:
        p.exit(2, f"error: {exc}\n")
    finally:
        bar.close()
    summaries = store.finish()
    faces = sum(summary["faces"] for summary in summaries)
    unreadable = f"; skipped {len(errors)} unreadable file(s):" if errors else ""
    print(f"{faces} faces from {len(summaries)} files -> {args.out}{unreadable}")
    for line in errors:
        print(f"  {line}")
    return 0


def open_store(args: argparse.Namespace, info: CheckpointInfo) -> ParquetStore | FileStore:
    """A folder: Parquet, resumable (refused if it holds a run made with other settings); a
    ``.csv`` or ``.json`` file: one file, written at the end."""
    one_file = args.out.suffix.lower() in (".csv", ".json")
    needed = (["ray"] if args.engine == "ray" else []) + ([] if one_file else ["pyarrow"])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(f"this needs {' and '.join(missing)}: pip install -r requirements-batch.txt")
    if one_file:
        return FileStore(args.out, info.label_names)
    snapshot = info.folder.resolve()
    revision = snapshot.name if snapshot.parent.name == "snapshots" else ""
    model = args.model or info.name
    settings = {"model": model, "revision": revision, "every": args.every, "tta": args.tta}
    return ParquetStore(args.out, settings, info.label_names)
