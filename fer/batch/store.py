"""Where a run's results go: Parquet files written per source with a manifest, or one CSV/JSON file.

A directory output is resumable: each source's faces are written to their own Parquet file
(atomically: a reader or a resumed run sees all of a file's rows or none), and only then is the
source added to ``manifest.jsonl``. A run that is stopped anyhow and started again with the same
command skips every source in the manifest, and ends with the rows an uninterrupted run gives.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from fer.batch.records import FileResult
from fer.utils.atomic import atomic_write
from fer.utils.output_paths import writable_file, writable_folder

MANIFEST = "manifest.jsonl"
SETTINGS = "run.json"
# Today's single-file columns (the Parquet files add time_s, model and revision).
FILE_COLUMNS = ["file", "frame", "face", "x", "y", "width", "height", "detected", "label", "score"]


class ParquetStore:
    """``OUT/faces/*.parquet`` (one row per face per frame), ``OUT/summary.parquet`` (one row per
    source: faces, people, seconds analysed, the error if any) and ``OUT/manifest.jsonl``."""

    def __init__(self, out: Path, settings: dict, labels: list[str]):
        self.out, self.labels = writable_folder(out), labels
        (out / "faces").mkdir(exist_ok=True)
        previous = out / SETTINGS
        if previous.is_file() and json.loads(previous.read_text()) != settings:
            earlier = previous.read_text().strip()
            raise ValueError(f"{out} holds a run made with other settings ({earlier}); use another --out")
        previous.write_text(json.dumps(settings))
        self.settings = settings

    def done(self) -> set[str]:
        """The sources whose rows are written (a line torn by a kill mid-write is not counted)."""
        done = set()
        manifest = self.out / MANIFEST
        for line in manifest.read_text().splitlines() if manifest.is_file() else []:
            try:
                done.add(json.loads(line)["source"])
            except (ValueError, KeyError):
                continue
        return done

    def commit(self, result: FileResult) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([self._row(record) for record in result.records], schema=self._schema())
        part = self.out / "faces" / f"{_key(result.source)}.parquet"
        atomic_write(part, lambda staged: pq.write_table(table, staged))
        with (self.out / MANIFEST).open("a") as manifest:
            manifest.write(json.dumps(result.summary) + "\n")

    def finish(self) -> list[dict]:
        """The summary table, written once every source is done; its rows."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = {}
        for line in (self.out / MANIFEST).read_text().splitlines():
            try:
                summary = json.loads(line)
            except ValueError:
                continue
            rows[summary["source"]] = summary
        summaries = [rows[name] for name in sorted(rows)]
        table = pa.Table.from_pylist(summaries)
        atomic_write(self.out / "summary.parquet", lambda staged: pq.write_table(table, staged))
        return summaries

    def _row(self, record: dict) -> dict:
        row = {"source": record["file"], "person": record["face"], **record}
        del row["file"], row["face"]
        return {**row, "model": self.settings["model"], "revision": self.settings["revision"]}

    def _schema(self):
        import pyarrow as pa

        columns = [("source", pa.string()), ("frame", pa.int64()), ("time_s", pa.float64()), ("person", pa.int64())]
        columns += [(name, pa.int64()) for name in ("x", "y", "width", "height")]
        columns += [("detected", pa.bool_()), ("label", pa.string()), ("score", pa.float64())]
        columns += [(name, pa.float64()) for name in self.labels]
        columns += [("model", pa.string()), ("revision", pa.string())]
        return pa.schema(columns)


class FileStore:
    """One CSV or JSON file of rows, as the command has always written: kept in memory, written at
    the end (not resumable: use a directory for that)."""

    def __init__(self, out: Path, labels: list[str]):
        self.out, self.labels, self.results = writable_file(out), labels, []

    def done(self) -> set[str]:
        return set()

    def commit(self, result: FileResult) -> None:
        self.results.append(result)

    def finish(self) -> list[dict]:
        results = sorted(self.results, key=lambda result: result.source)
        columns = FILE_COLUMNS + self.labels
        rows = [{name: record[name] for name in columns} for result in results for record in result.records]
        if self.out.suffix.lower() == ".json":
            self.out.write_text(json.dumps(rows, indent=1))
        else:
            with self.out.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(rows)
        return [result.summary for result in results]


def _key(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:20]
