"""Benchmark a model on this machine: training throughput per variant, and CPU inference latency.

    python -m train.bench --model fernet_s --out bench/train_fernet_s.json

Training: the trainer's own ``train_step`` (augmentation, forward, backward, fused
optimiser, EMA if asked) on random uint8 faces resident on the device, for each variant:
``eager`` (NCHW), ``channels_last`` and ``compile`` (``torch.compile``), reported as
images/s, the FER2013 epoch time that implies, and the ratio against ``eager`` measured
in the same run. Inference (always on CPU, the app's target): latency per face at batch
1 and throughput at batch 64, median of repeats.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from timm.utils import ModelEmaV3

from fer.model.labels import FACE_SIZE, NUM_CLASSES
from fer.model.networks import create_model, parameter_count
from fer.model.preprocess import Preprocess
from fer.model.transforms import to_model_input
from fer.utils.device import Compute, configure_backends, resolve_device
from fer.utils.output_paths import writable_file_argument
from train.args import build_parser
from train.augment import Augment, AugmentConfig
from train.build import make_model, make_optimizer
from train.step import StepParts, seed_step, train_step

FER2013_TRAIN_IMAGES = 28_709
VARIANTS = ("eager", "channels_last", "compile")


def median_ms(fn, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def trainer_args(model: str, batch_size: int, ema: bool) -> argparse.Namespace:
    """The trainer's defaults for ``model``: the bench builds what ``train.train`` builds."""
    flags = ["--data", "-", "--out", "-", "--model", model, "--batch-size", str(batch_size)]
    return build_parser().parse_args(flags + (["--ema"] if ema else []))


def bench_training(args: argparse.Namespace, variant: str, device: torch.device, steps: int) -> dict:
    # compile keeps the device's default layout (channels_last on GPUs, NCHW on CPUs).
    channels_last = {"eager": False, "channels_last": True, "compile": None}[variant]
    compute = Compute.choose(device, channels_last=channels_last)
    choice = make_model(args, compute)
    model = choice.model
    parts = StepParts(
        runner=torch.compile(model) if variant == "compile" else model,
        fallback=model,
        module=model,
        optimizer=make_optimizer(model, args),
        scaler=compute.grad_scaler(),
        compute=compute,
        augment=Augment(choice.preprocess, AugmentConfig.scaled(args.aug)),
        preprocess=choice.preprocess,
        label_smoothing=args.label_smoothing,
        ema=ModelEmaV3(model, decay=args.ema_decay, use_warmup=True) if args.ema else None,
    )
    model.train()
    batch = args.batch_size
    faces = torch.randint(0, 256, (batch * 4, FACE_SIZE, FACE_SIZE), dtype=torch.uint8, device=device)
    labels = torch.randint(0, NUM_CLASSES, (batch * 4,), device=device)

    def step(i: int) -> None:
        sl = slice((i % 4) * batch, (i % 4 + 1) * batch)
        train_step(parts, faces[sl], labels[sl], seed_step(i, device), i + 1)

    warmup_started = time.perf_counter()
    for i in range(3):  # warm-up (and compilation)
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    warmup_s = time.perf_counter() - warmup_started
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    images_per_s = steps * batch / (time.perf_counter() - start)
    return {
        "variant": variant,
        "compiled": parts.runner is not parts.fallback,
        "compute": compute.describe(),
        "train_images_per_s": round(images_per_s, 1),
        "train_epoch_s_fer2013": round(FER2013_TRAIN_IMAGES / images_per_s, 2),
        "warmup_s": round(warmup_s, 1),
    }


@torch.inference_mode()
def bench_inference(name: str, repeats: int, img_size: int) -> dict:
    model = create_model(name).eval()
    pre = Preprocess(size=img_size)
    one = torch.randint(0, 256, (1, FACE_SIZE, FACE_SIZE), dtype=torch.uint8)
    many = torch.randint(0, 256, (64, FACE_SIZE, FACE_SIZE), dtype=torch.uint8)
    single_ms = median_ms(lambda: model(to_model_input(one, pre)), repeats, warmup=10)
    batch_ms = median_ms(lambda: model(to_model_input(many, pre)), max(5, repeats // 10))
    return {
        "cpu_latency_ms_batch1": round(single_ms, 3),
        "cpu_throughput_faces_per_s_batch64": round(64 / batch_ms * 1000, 1),
        "cpu_threads": torch.get_num_threads(),
    }


def cpu_flags() -> list[str]:
    """The x86 flags that decide which int8 kernel onnxruntime picks."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return []
    return sorted(set(flags.split(":")[1].split()) & {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"})


def cpu_name() -> str:
    """The CPU's model name, as the kernel reports it ("CPU" where it does not)."""
    try:
        line = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        return "CPU"
    return line.split(":", 1)[1].strip()


def write_report(report: dict, path: str | Path) -> None:
    """Write a benchmark's figures as JSON (creating the folder) and print them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="fernet_s")
    p.add_argument("--device", default="auto", help="training device: auto, cpu, cuda")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="timed training steps per variant")
    p.add_argument("--ema", action="store_true", help="include the EMA update in the step")
    p.add_argument("--repeats", type=int, default=200, help="timed batch-1 inference calls")
    p.add_argument("--out", type=writable_file_argument, default="bench/train_bench.json")
    args = p.parse_args(argv)
    if min(args.batch_size, args.steps, args.repeats) < 1:
        p.error("--batch-size, --steps and --repeats must be at least 1")
    device = resolve_device(args.device)
    configure_backends(device)
    train_args = trainer_args(args.model, args.batch_size, args.ema)
    model = create_model(args.model)  # an unknown name: ValueError, one sentence below
    results = [bench_training(train_args, variant, device, args.steps) for variant in args.variants]
    eager = next((r for r in results if r["variant"] == "eager"), None)
    report = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        },
        "model": args.model,
        "parameters": parameter_count(model),
        "weights_mb_fp32": round(parameter_count(model) * 4 / 1e6, 2),
        "batch_size": args.batch_size,
        "ema": args.ema,
        "training": results,
        "ratio_vs_eager": (
            {r["variant"]: round(r["train_images_per_s"] / eager["train_images_per_s"], 3) for r in results}
            if eager
            else None
        ),
        "fastest": max(results, key=lambda r: r["train_images_per_s"])["variant"],
        "inference": bench_inference(args.model, args.repeats, train_args.img_size),
    }
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    try:
        main()
    except ValueError as exc:  # an unknown model, an output that cannot be written
        sys.exit(f"error: {exc}")
