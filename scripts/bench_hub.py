"""What a push and a pull of the embedded model cost on 127.0.0.1 (seconds, bytes).

    python scripts/bench_hub.py --out bench/hub.json

Runs the real ``huggingface_hub`` client against the Hub-compatible test server
(``tests/hub_server.py``); the figures are the client's and the protocol's cost, not the
real Hub's network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer.utils.output_paths import writable_file_argument  # noqa: E402
from tests.hub_server import FakeHub  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "fernet_s"))
    p.add_argument("--out", type=writable_file_argument, default=str(ROOT / "bench/hub.json"))
    args = p.parse_args()
    with FakeHub() as hub, tempfile.TemporaryDirectory() as tmp:
        # huggingface_hub reads these when it is imported, so set them first.
        os.environ.update(
            {"HF_ENDPOINT": hub.url, "HF_TOKEN": "write-token", "HF_HOME": tmp, "HF_HUB_DISABLE_TELEMETRY": "1"}
        )
        from fer.hub.client import download_checkpoint, push_checkpoint
        from train.bench import write_report

        folder = Path(tmp) / "run"
        shutil.copytree(args.checkpoint, folder)
        start = time.perf_counter()
        push_checkpoint(folder, "tester/fer-bench")
        push_s, pushed = time.perf_counter() - start, hub.bytes_received
        sent_before = hub.bytes_sent
        start = time.perf_counter()
        pulled = download_checkpoint("tester/fer-bench")
        pull_s, received = time.perf_counter() - start, hub.bytes_sent - sent_before
        files = {p.name: p.stat().st_size for p in sorted(pulled.iterdir())}
    report = {
        "checkpoint": str(Path(args.checkpoint).resolve().relative_to(ROOT)),
        "files": files,
        "push_seconds": round(push_s, 3),
        "push_request_bytes": pushed,
        "pull_seconds_cold_cache": round(pull_s, 3),
        "pull_response_bytes": received,
        "checkpoint_bytes": sum(files.values()),
        "note": "regular (base64 in the commit payload) uploads, as the local server offers; the real Hub uses LFS/Xet",
    }
    write_report(report, args.out)


if __name__ == "__main__":
    main()
