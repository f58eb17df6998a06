"""What the page says about the picked model and the app's limits, in plain words.

Every figure is read from the checkpoint (``metrics.json``, ``uncertainty.json``) or from
``fer.app.limits``, so the page cannot drift from the model it serves.
"""

import logging

import gradio as gr

from fer.app import limits
from fer.app.served import served_models
from fer.app.text import plain
from fer.model.checkpoint_info import CheckpointError
from fer.model.labels import display_name
from fer.pipeline.images import MAX_PIXELS
from fer.pipeline.predict import Predictor
from fer.pipeline.video import MAX_VIDEO_S

log = logging.getLogger("fer.app")


def describe_model(model: str | None) -> tuple[str, str | dict]:
    """What the page says about the picked model: its line under the picker, and its "about" text."""
    try:
        chosen = served_models().choice(model).predictor
    except CheckpointError as exc:
        log.warning("refused model %r: %s", model, exc)
        return f"⚠️ Cannot use this model: {plain(exc)}.", gr.skip()  # the about text stays as it was
    return model_facts(chosen), about_text(chosen)


def model_facts(chosen: Predictor) -> str:
    """The model's accuracy, how it is served, and why it is not the one asked for (if so)."""
    metrics = chosen.info.metrics()
    accuracy = f"{metrics['accuracy']:.1%} validation accuracy (FER2013 PublicTest)" if metrics else "no metrics saved"
    served = chosen.onnx.validation_accuracy if chosen.onnx else None
    serving = f"served with {chosen.serving}" + (f" ({served:.1%} validation as served)" if served else "")
    classes = ", ".join(display_name(n) for n in chosen.label_names)
    text = f"**Model:** `{chosen.model_name}` · {accuracy} · {serving} · **Classes:** {classes}"
    notices = (served_models().notice, chosen.notice, *chosen.info.notices)
    return text + "".join(f"\n\n⚠️ {plain(notice)}" for notice in notices if notice)


def about_text(chosen: Predictor) -> str:
    """The page's plain statement of what the model is, where it is weak, and what happens to uploads."""
    metrics = chosen.info.metrics()
    recall = {name: figures["recall"] for name, figures in metrics.get("per_class", {}).items()}
    weakest = sorted(recall, key=recall.get)[:2]
    weak = ", ".join(f"{display_name(name)} (it finds {recall[name]:.0%} of them)" for name in weakest)
    accuracy = f"{metrics['accuracy']:.1%}" if metrics else "an unmeasured share"
    doubt = chosen.uncertainty
    uncertain = (
        f"Faces scored under {doubt['threshold']:.0%} are marked uncertain: on validation faces the model was right "
        f"on {doubt['accuracy_below']:.0%} of those, against {doubt['accuracy_at_or_above']:.0%} above it."
        if doubt
        else "This checkpoint has no measured uncertainty threshold, so no face is marked uncertain."
    )
    return (
        f"**The model**, `{chosen.model_name}`, was trained on FER2013: 28,709 grayscale face photos of 48x48 "
        "pixels, each labelled with one of seven expressions by people. It names the expression right on "
        f"{accuracy} of FER2013's validation faces; its weakest classes are {weak or 'not measured'}. {uncertain}\n\n"
        "**Expressions are not emotions.** It reads facial muscle patterns as FER2013's labellers saw them; it "
        "cannot tell what someone feels, means or intends, and it is less reliable on faces unlike FER2013's "
        "(turned away, partly covered, very small, unusual lighting). Do not use it to make decisions about people.\n\n"
        "**Your uploads** are decoded in this server's memory, never sent elsewhere, and the copies Gradio keeps on "
        f"disk (uploads, results, downloads) are deleted within "
        f"{(limits.CACHE_SWEEP_S + limits.CACHE_MAX_AGE_S) // 60} minutes. The log records one line when a file is "
        "refused (why, never its contents)."
    )


def limits_text() -> str:
    """The page's footer: what one visitor may send, and how long anything is kept."""
    return (
        f"Photos up to {limits.MAX_UPLOAD_MB} MB and {MAX_PIXELS // 1_000_000} megapixels. Uploads and results are "
        f"deleted from the server within {(limits.CACHE_SWEEP_S + limits.CACHE_MAX_AGE_S) // 60} minutes. "
        f"A Live stream runs for {limits.LIVE_TIME_LIMIT_S // 60} minutes at a time; videos up to {MAX_VIDEO_S} s."
    )
