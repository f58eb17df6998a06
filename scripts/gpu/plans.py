"""The named training plans a GPU call can run, and the flag edits they need.

A plan is stages of (share of the call's budget, {run name: trainer flags}); ``--data`` and
``--out`` are added. Runs of a stage start together; a stage starts when the one before it has
ended, so its flags may name an earlier run's best checkpoint as ``@run`` (a teacher). Epoch
counts are upper bounds: ``--fit`` lowers them to the stage's time, and a run stopped by the
budget resumes on the next call. docs/results.md has what each plan's runs reached.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from gpu import ROOT

# Named plans: stages of (share of the call's budget, {run name: trainer flags}); --data and
# --out are added. Runs of a stage start together; a stage starts when the one before it has
# ended, so its flags may name an earlier run's best checkpoint as ``@run`` (a teacher). Epoch
# counts are upper bounds: --fit lowers them to the stage's time, and a run stopped by the
# budget resumes on the next call.
GPU_FLAGS = "--batch-size 256 --save-every 10 --ema --ema-every 4"


EMBEDDED = "checkpoints/fernet_s"


Stage = tuple[float, dict[str, str]]


STORED_TARGETS = ".devdata/targets.npz"  # see docs/training-on-gpu.md for the command that makes it


STORED_STUDENT = f"--model fernet_s --soft-targets {STORED_TARGETS}"  # fernet_s taught by those targets


TEACHERS = f"@fernet_m-adamw @fernet_m-sgd @fernet_s-adamw {EMBEDDED}"


PLANS: dict[str, list[Stage]] = {
    "smoke": [(1.0, {"fernet_s-smoke": f"--model fernet_s --epochs 3 {GPU_FLAGS}"})],
    # The first lent GPU's call (runs 14-18 of docs/results.md): the embedded model distilled
    # into itself over a long cycle (the CPU's best recipe scaled up, and a hotter one with
    # stronger augmentation), fernet_s from scratch with two optimisers, and fernet_m.
    "flagship": [
        (
            1.0,
            {
                "fernet_s-kd": f"--model fernet_s --init {EMBEDDED} --teacher {EMBEDDED} --epochs 120 --lr 5e-4 "
                f"--warmup-epochs 1 {GPU_FLAGS}",
                "fernet_s-kd-strong": f"--model fernet_s --init {EMBEDDED} --teacher {EMBEDDED} --epochs 120 --lr 1e-3 "
                f"--warmup-epochs 1 --aug 1.5 --seed 1 {GPU_FLAGS}",
                "fernet_s-adamw": f"--model fernet_s --epochs 300 --lr 2e-3 {GPU_FLAGS}",
                "fernet_s-sgd": f"--model fernet_s --epochs 300 --optimizer nesterov --lr 0.1 --weight-decay 5e-4 "
                f"{GPU_FLAGS}",
                "fernet_m-adamw": f"--model fernet_m --epochs 300 --lr 2e-3 {GPU_FLAGS}",
            },
        )
    ],
    # The next step: teachers trained in the call (their checkpoints could not travel: the
    # data alone fills the carry), then fernet_s distilled from their averaged logits and the
    # embedded model's, from scratch and from the embedded model.
    "distill": [
        (
            0.55,
            {
                "fernet_m-adamw": f"--model fernet_m --epochs 300 --lr 2e-3 {GPU_FLAGS}",
                "fernet_m-sgd": f"--model fernet_m --epochs 300 --optimizer nesterov --lr 0.1 --weight-decay 5e-4 "
                f"{GPU_FLAGS}",
                "fernet_s-adamw": f"--model fernet_s --epochs 300 --lr 2e-3 --seed 1 {GPU_FLAGS}",
            },
        ),
        (
            0.45,
            {
                "student-scratch": f"--model fernet_s --teacher {TEACHERS} --epochs 300 --lr 2e-3 {GPU_FLAGS}",
                "student-embedded": f"--model fernet_s --init {EMBEDDED} --teacher {TEACHERS} --epochs 300 --lr 5e-4 "
                f"--warmup-epochs 1 {GPU_FLAGS}",
            },
        ),
    ],
    # The next call: "distill" taught best from the embedded model, and its student peaked by
    # epoch 42, so the teachers get most of the call (fernet_m alone, towards run 18's 190
    # epochs) and two seeds of the embedded model a short schedule. (Third GPU: runs 28-31.)
    "distill-long": [
        (
            0.72,
            {
                "fernet_m-adamw": f"--model fernet_m --epochs 300 --lr 2e-3 {GPU_FLAGS}",
                "fernet_m-sgd": f"--model fernet_m --epochs 300 --optimizer nesterov --lr 0.1 --weight-decay 5e-4 "
                f"{GPU_FLAGS}",
            },
        ),
        (
            0.28,
            {
                f"student-{seed}": f"--model fernet_s --init {EMBEDDED} --teacher @fernet_m-adamw @fernet_m-sgd "
                f"{EMBEDDED} --epochs 60 --lr 5e-4 --warmup-epochs 1 --seed {seed} {GPU_FLAGS}"
                for seed in (0, 1)
            },
        ),
    ],
    # A warm follow-up to "distill": its best student distilled on at a lower rate.
    "polish": [
        (
            1.0,
            {
                "student-polish": f"--model fernet_s --init @student-embedded --teacher {TEACHERS} --epochs 60 "
                f"--lr 2e-4 --warmup-epochs 1 {GPU_FLAGS}",
                "student-polish-hot": f"--model fernet_s --init @student-embedded --teacher {TEACHERS} --epochs 60 "
                f"--lr 5e-4 --warmup-epochs 1 --seed 1 {GPU_FLAGS}",
            },
        )
    ],
    # Distillation from stored targets (train.soft_targets): the best ensemble of every earlier
    # call's models, which cannot travel, as one 1 MB file in the carried .devdata/. Without
    # teacher passes, fernet_s trains at plain speed: from scratch for a long schedule (the
    # embedded model's own start, run 17), harder on the targets, and with AdamW (run 16). Not
    # from the embedded model: every continuation of run 24 so far scored below it (runs 25-34).
    "stored": [
        (
            1.0,
            {
                "stored-scratch": f"{STORED_STUDENT} --epochs 300 --optimizer nesterov --lr 0.1 --weight-decay 5e-4 "
                f"{GPU_FLAGS}",
                "stored-scratch-a0.8": f"{STORED_STUDENT} --kd-alpha 0.8 --epochs 300 --optimizer nesterov --lr 0.1 "
                f"--weight-decay 5e-4 --seed 1 {GPU_FLAGS}",
                "stored-scratch-adamw": f"{STORED_STUDENT} --kd-alpha 0.8 --epochs 300 --lr 2e-3 --seed 2 {GPU_FLAGS}",
            },
        )
    ],
    # "stored"'s best recipe (AdamW, kd-alpha 0.8: run 37) again at other seeds, on a short
    # schedule: the rest of the call that ran it (runs 38-40, 0.690-0.696: too short).
    "stored-seeds": [
        (
            1.0,
            {
                f"stored-adamw-{seed}": f"{STORED_STUDENT} --kd-alpha 0.8 --epochs 300 --lr 2e-3 --seed {seed} "
                f"{GPU_FLAGS}"
                for seed in (3, 4, 5)
            },
        )
    ],
    # The next call: run 37 and its "stored" siblings all peaked late (epochs 174-255 of 264-273),
    # so its recipe again for longer (--fit: about 380 epochs for three at once in a full call),
    # at two seeds and leaning harder on the targets.
    "stored-long": [
        (
            1.0,
            {
                f"stored-long-{tag}": f"{STORED_STUDENT} --kd-alpha {alpha} --epochs 500 --lr 2e-3 --seed {seed} "
                f"{GPU_FLAGS}"
                for tag, alpha, seed in (("6", 0.8, 6), ("7", 0.8, 7), ("a0.9", 0.9, 8))
            },
        )
    ],
    # The sweep's mixup point: "distill-long"'s best teacher (fernet_m, SGD, 0.7033 in 137
    # epochs on an H100) again with mixup at a light and at the published recipe's alpha.
    "mixup": [
        (
            1.0,
            {
                f"fernet_m-sgd-mixup{alpha}": f"--model fernet_m --epochs 300 --optimizer nesterov --lr 0.1 "
                f"--weight-decay 5e-4 --mixup {alpha} {GPU_FLAGS}"
                for alpha in ("0.2", "1.0")
            },
        )
    ],
}


TINY = "--model fernet_t --train-subset 512 --val-subset 256 --batch-size 64 --save-every 1"


DRY_RUN_PLAN: list[Stage] = [
    (0.6, {"tiny-a": f"{TINY} --epochs 2", "tiny-b": f"{TINY} --epochs 1 --optimizer nesterov --lr 0.05"}),
    (0.4, {"tiny-student": f"{TINY} --epochs 1 --teacher @tiny-a @tiny-b"}),
]


def missing_soft_targets(stages: list[Stage]) -> list[str]:
    """The ``--soft-targets`` files the plan names that are not here: refused before the call
    spends its probe on runs that would all fail."""
    named = set()
    for _, runs in stages:
        for flags in runs.values():
            words = shlex.split(flags)
            named |= {words[i + 1] for i, word in enumerate(words[:-1]) if word == "--soft-targets"}
    return sorted(name for name in named if not (ROOT / name).is_file())


def planned_epochs(flags: str) -> int:
    words = shlex.split(flags)
    return int(words[words.index("--epochs") + 1])


def with_references(flags: str, work: Path) -> str:
    """``@run`` -> that run's folder in ``work`` (its best checkpoint): a teacher trained earlier in the call."""
    return shlex.join(str(work / "runs" / word[1:]) if word.startswith("@") else word for word in shlex.split(flags))


def with_epochs(flags: str, epochs: int) -> str:
    words = shlex.split(flags)
    words[words.index("--epochs") + 1] = str(epochs)
    return shlex.join(words)
