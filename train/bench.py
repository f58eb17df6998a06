"""Benchmark a model on this machine: training throughput and CPU inference latency.

    python -m train.bench --model fernet_s --out bench/train_fernet_s.json

Training: real training steps (augmentation, forward, backward, optimiser) on random
uint8 faces resident on the device, reported as images/s and as the epoch time that
implies for FER2013's 28,709 training images. Inference (always on CPU, the app's
target): latency per face at batch 1 and throughput at batch 64, median of repeats.
A baseline model (timm's resnet18 by default) is measured in the same run, and the
ratios printed, so figures from different machines can be compared.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from timm.optim import create_optimizer_v2

from fer.labels import NUM_CLASSES
from fer.models import create_model, parameter_count
from fer.transforms import Augment, AugmentConfig, Preprocess, to_model_input

FER2013_TRAIN_IMAGES = 28_709


def _timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def bench_training(name: str, device: torch.device, batch_size: int, steps: int, img_size: int) -> dict:
    torch.manual_seed(0)
    model = create_model(name).to(device)
    use_bf16 = device.type == "cuda"
    if use_bf16:
        model = model.to(memory_format=torch.channels_last)
    optimizer = create_optimizer_v2(model, opt="adamw", lr=1e-3)
    augment = Augment(Preprocess(size=img_size), AugmentConfig())
    faces = torch.randint(0, 256, (batch_size * 4, 48, 48), dtype=torch.uint8, device=device)
    labels = torch.randint(0, NUM_CLASSES, (batch_size * 4,), device=device)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)

    def step(i: int) -> None:
        sl = slice((i % 4) * batch_size, (i % 4 + 1) * batch_size)
        x = augment(faces[sl])
        if use_bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = criterion(model(x), labels[sl])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for i in range(3):  # warm-up
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    images_per_s = steps * batch_size / (time.perf_counter() - start)
    return {
        "train_images_per_s": round(images_per_s, 1),
        "train_epoch_s_fer2013": round(FER2013_TRAIN_IMAGES / images_per_s, 1),
        "train_batch_size": batch_size,
        "train_device": str(device),
    }


@torch.inference_mode()
def bench_inference(name: str, repeats: int, img_size: int) -> dict:
    model = create_model(name).eval()
    pre = Preprocess(size=img_size)
    one = torch.randint(0, 256, (1, 48, 48), dtype=torch.uint8)
    many = torch.randint(0, 256, (64, 48, 48), dtype=torch.uint8)
    for _ in range(10):
        model(to_model_input(one, pre))
    single = _timed(lambda: model(to_model_input(one, pre)), repeats)
    batch = _timed(lambda: model(to_model_input(many, pre)), max(5, repeats // 10))
    return {
        "cpu_latency_ms_batch1": round(statistics.median(single) * 1000, 3),
        "cpu_throughput_faces_per_s_batch64": round(64 / statistics.median(batch), 1),
        "cpu_threads": torch.get_num_threads(),
    }


def write_report(report: dict, path: str | Path) -> None:
    """Write a benchmark's figures as JSON (creating the folder) and print them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


def bench_model(name: str, device: torch.device, args: argparse.Namespace) -> dict:
    model = create_model(name)
    result = {
        "model": name,
        "parameters": parameter_count(model),
        "weights_mb_fp32": round(parameter_count(model) * 4 / 1e6, 2),
        "img_size": args.img_size,
    }
    result.update(bench_training(name, device, args.batch_size, args.steps, args.img_size))
    result.update(bench_inference(name, args.repeats, args.img_size))
    return result


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="fernet_s")
    p.add_argument("--baseline", default="resnet18", help="measured in the same run for ratios ('' to skip)")
    p.add_argument("--device", default="auto", help="training device: auto, cpu, cuda")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="timed training steps")
    p.add_argument("--repeats", type=int, default=200, help="timed batch-1 inference calls")
    p.add_argument("--img-size", type=int, default=48)
    p.add_argument("--out", default="bench/train_bench.json")
    args = p.parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    report = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        },
        "results": [bench_model(args.model, device, args)],
    }
    if args.baseline:
        base = bench_model(args.baseline, device, args)
        report["results"].append(base)
        main_result = report["results"][0]
        report["ratios_vs_baseline"] = {
            "train_images_per_s": round(main_result["train_images_per_s"] / base["train_images_per_s"], 3),
            "cpu_latency_ms_batch1": round(main_result["cpu_latency_ms_batch1"] / base["cpu_latency_ms_batch1"], 3),
            "parameters": round(main_result["parameters"] / base["parameters"], 3),
        }
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
