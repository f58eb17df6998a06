"""The model card (``README.md``) of a checkpoint folder, generated from what the run saved.

Everything in it is read from the folder: ``config.json`` (architecture, labels,
preprocessing), ``metrics.json`` (validation metrics of the saved epoch),
``train_args.json`` (the exact training configuration) and ``metrics.jsonl`` (epochs).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from fer.model.checkpoint_info import CONFIG_FILE, WEIGHTS_FILE
from fer.model.onnx_classifier import INT8_FILE, preferred_onnx_file
from fer.model.onnx_sessions import EXACT_INT8

LIMITATIONS = """\
- **Data.** FER2013 is 35,887 48x48 grayscale faces found by Google image search and labelled
  by crowd workers. Labels are noisy (human agreement on FER2013 is about 65%), classes are
  imbalanced (disgust has 1.5% of the training images), and the faces are mostly frontal,
  adult and of lighter skin tones; accuracy on other populations, ages, poses, lighting and
  camera types is unmeasured and likely lower.
- **What it measures.** A facial expression is not an emotion: the model labels the visible
  configuration of a face, posed or spontaneous, not what a person feels.
- **Do not use it** to make decisions about people (hiring, policing, education, health,
  credit, border control) or to monitor people without their informed consent."""


def _table(per_class: dict) -> str:
    rows = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, c in per_class.items():
        rows.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    return "\n".join(rows)


def _training_command(args: dict) -> str:
    flags = []
    for key, value in args.items():
        if value in (None, False, 0, "", []) and key not in ("seed",):
            continue
        flag = "--" + key.replace("_", "-")
        values = value if isinstance(value, list) else [value]  # a list: a flag that takes several
        flags.append(flag if value is True else " ".join([flag, *(shlex.quote(str(v)) for v in values)]))
    return "python -m train.train " + " ".join(flags)


# train.evaluate's result files for the validation split with test-time augmentation.
TTA_RESULTS = (
    ("eval_validation_tta.json", "horizontal-flip TTA (2 views)"),
    ("eval_validation_tencrop.json", "ten-crop TTA"),
)


def _tta_results(folder: Path) -> list[str]:
    """One line per test-time augmentation measured by ``train.evaluate`` on this checkpoint."""
    lines = []
    for file, what in TTA_RESULTS:
        if (folder / file).is_file():
            result = json.loads((folder / file).read_text())
            lines.append(
                f"- With {what}: accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f} "
                f"(`python -m train.evaluate <this folder> --split validation --tta {result['tta']}`)"
            )
    return ["", *lines] if lines else []


def _onnx_usage(folder: Path) -> list[str]:
    """How to run the ONNX export (``python -m train.export``) with onnxruntime alone."""
    path = preferred_onnx_file(folder)
    if path is None:
        return []
    int8 = path.name == INT8_FILE
    what = "int8, within 0.3 points of the fp32 model's validation accuracy" if int8 else "fp32"
    return [
        "",
        f"With onnxruntime alone (`{path.name}`, {what}, written by `python -m train.export`; its metadata holds"
        " the labels and the normalisation):",
        "",
        "```python",
        "import json, numpy as np, onnxruntime as ort; from PIL import Image",
        *_exact_int8_options(int8),
        f'session = ort.InferenceSession("{path.name}"{", options" if int8 else ""})',
        "meta = session.get_modelmeta().custom_metadata_map",
        'face = np.asarray(Image.open("face.png").convert("L").resize((48, 48)), np.float32)[None, None] / 255',
        'x = (face - json.loads(meta["mean"])[0]) / json.loads(meta["std"])[0]',
        'print(json.loads(meta["label_names"])[session.run(None, {"faces": x.astype(np.float32)})[0].argmax()])',
        "```",
    ]


def _exact_int8_options(int8: bool) -> list[str]:
    """The session option that makes CPUs without VNNI compute int8 as everyone else does."""
    if not int8:
        return []
    key, value = EXACT_INT8
    return [f"options = ort.SessionOptions(); options.add_session_config_entry('{key}', '{value}')  # every CPU alike"]


def write_model_card(folder: str | Path, repo_id: str | None = None, shown_as: str | None = None) -> Path:
    """Write ``folder/README.md`` and return its path.

    ``shown_as`` is the folder as the card's readers name it (``checkpoints/fernet_s`` for a
    checkpoint built in a temporary folder before it is moved there); ``folder`` by default.
    """
    folder = Path(folder)
    where = shown_as or str(folder)
    config = json.loads((folder / CONFIG_FILE).read_text())
    metrics_path, args_path = folder / "metrics.json", folder / "train_args.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    args = json.loads(args_path.read_text()) if args_path.is_file() else {}
    arch, labels = config["architecture"], config["label_names"]
    pre = config["pretrained_cfg"]
    size_mb = (folder / WEIGHTS_FILE).stat().st_size / 1e6 if (folder / WEIGHTS_FILE).is_file() else 0.0
    params = metrics.get("parameters")
    data = ModelCardData(
        library_name="timm",
        pipeline_tag="image-classification",
        license="mit",
        tags=["image-classification", "timm", "facial-expression-recognition", "fer2013", "emotion"],
        datasets=["fer2013"],
        metrics=["accuracy", "f1"],
    )
    name = repo_id or folder.name
    timm_name = f"hf-hub:{repo_id}" if repo_id else f"local-dir:{where}"
    registers = " (after `import fer.model.networks`, which registers this architecture)"
    lines = [
        f"# {name}: facial expression recognition ({arch})",
        "",
        f"A `{arch}` classifier of facial expressions in 48x48 grayscale faces, trained on FER2013 with "
        "[timm](https://github.com/huggingface/pytorch-image-models).",
        "",
        "## Model",
        "",
        f"- Architecture: `{arch}`"
        + (f", {params / 1e6:.2f}M parameters" if params else "")
        + f", {size_mb:.1f} MB of weights (safetensors)",
        f"- Classes ({len(labels)}, in output order): {', '.join(labels)}",
        f"- Input: {pre['input_size'][1]}x{pre['input_size'][2]}, {pre['input_size'][0]} channel (grayscale), "
        f"scaled to 0..1, normalised with mean {pre['mean']} and std {pre['std']}",
    ]
    if args.get("init"):
        lines.append(
            f"- Fine-tuned from `{args['init']}`"
            + ("; a new classification head was made for this class set" if metrics.get("new_head") else "")
        )
    if args.get("pretrained"):
        lines.append(
            f"- Initialised from timm's ImageNet weights for `{arch}` (first convolution summed to one channel)"
        )
    stored = args.get("soft_targets")  # the teachers ran once, ahead of training; metrics.json names them
    if args.get("teacher") or stored:
        teachers = ", ".join(f"`{t}`" for t in (metrics.get("teachers", []) if stored else args["teacher"]))
        how = (
            f"through their predictions stored in `{stored}` (`python -m train.soft_targets`; "
            if stored
            else "(averaged soft targets; "
        )
        lines.append(
            f"- Distilled from {teachers} {how}alpha {args.get('kd_alpha')}, temperature {args.get('kd_temperature')})"
        )
    sources = [args.get("init") or "", *(args.get("teacher") or [])]
    if where in sources:  # a model landed over the one it learnt from
        lines.append(f"- `{where}` in these lines and the command below: the model this one replaced there")
    if any(ref.startswith("@") for ref in sources):
        lines.append(
            "- `@name`: a run trained earlier in the same `scripts/device_run.py` call on a lent GPU, not published"
        )
    if metrics:
        lines += [
            "",
            "## Validation results",
            "",
            f"On FER2013's validation split (PublicTest, {metrics['count']} images), "
            f"epoch {metrics.get('epoch', '?')}, one view per face (no test-time augmentation): "
            f"**accuracy {metrics['accuracy']:.4f}**, **macro-F1 {metrics['macro_f1']:.4f}**. The test split "
            "(PrivateTest) was held out and not used.",
            "",
            _table(metrics["per_class"]),
            *_tta_results(folder),
        ]
    images = [
        (f, t)
        for f, t in (("confusion.png", "Confusion matrix"), ("curves.png", "Training curves"))
        if (folder / f).is_file()
    ]
    if images:
        lines += ["", *(f"![{title}]({file})" for file, title in images)]
    if args:
        lines += [
            "",
            "## Training",
            "",
            f"Data: `{args.get('data')}`, its train split"
            + (f" (a stratified subset of {args['train_subset']} images)" if args.get("train_subset") else "")
            + "; selected on its validation split. Command:",
            "",
            "```bash",
            _training_command(args),
            "```",
            "",
            "Full configuration: `train_args.json`; every epoch's metrics: `metrics.jsonl`.",
        ]
    lines += [
        "",
        "## Intended use",
        "",
        "Research, teaching and demos of facial expression recognition; as a starting point for fine-tuning "
        "on your own expression data.",
        "",
        "## Limitations and biases",
        "",
        LIMITATIONS,
        "",
        "## How to use",
        "",
        "With this project's `Predictor` (detects every face, crops it like FER2013, classifies):",
        "",
        "```python",
        "from fer.pipeline.predict import Predictor",
        f"predictor = Predictor({(repo_id or where)!r})",
        'for face in predictor.predict("photo.jpg"):',
        "    print(face.box, face.top_k(3))",
        "```",
        "",
        f"In the app: `FER_MODEL={repo_id or where} python app.py`.",
        "",
        "In plain timm, on a 48x48 grayscale face crop" + (registers if arch.startswith("fernet") else "") + ":",
        "",
        "```python",
        "import timm",
        f'model = timm.create_model("{timm_name}", pretrained=True).eval()',
        "config = timm.data.resolve_data_config({}, model=model)",
        "transform = timm.data.create_transform(**config)",
        "```",
        *_onnx_usage(folder),
    ]
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")
    path = folder / "README.md"
    card.save(path)
    return path
