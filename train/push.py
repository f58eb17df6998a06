"""Push a finished run (or any checkpoint folder) to the Hugging Face Hub with its model card.

    HF_TOKEN=... python -m train.push runs/exp1 user/fer-model [--private] [--message "..."]

A repo that exists gets a new commit (its history is kept). A failed push changes nothing
locally; run the same command again.
"""

from __future__ import annotations

import argparse
import sys

from fer.hub.client import HubError, push_checkpoint


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(prog="python -m train.push", description=__doc__.split("\n\n")[0])
    p.add_argument("folder", help="run or checkpoint folder (config.json + model.safetensors)")
    p.add_argument("repo_id", help="Hub repo, 'user/name'")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--message", default=None, help="commit message")
    args = p.parse_args(argv)
    url = push_checkpoint(args.folder, args.repo_id, private=args.private, commit_message=args.message)
    print(f"pushed {args.folder} -> {url}")
    return url


if __name__ == "__main__":
    try:
        main()
    except HubError as exc:
        sys.exit(f"error: {exc}")
