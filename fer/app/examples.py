"""The example photos and clips under each input, captioned, in the page's order."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

EXAMPLES = Path(__file__).parents[2] / "examples"
EXAMPLE_CAPTIONS = {  # in the page's order
    "one_face": "One face, smiling",
    "older_face": "An older face, with glasses and a cap",
    "downcast_face": "Downcast, eyes lowered (a frame of the example video)",
    "hand_at_mouth": "Eyes wide, a hand at the mouth (the same video)",
    "tilted_face": "A tilted head",
    "four_faces": "Four faces in one frame: a collage of two portraits",
    "no_face": "No face at all (a whole-image guess)",
}
VIDEO_EXAMPLE_CAPTIONS = {"tears_to_laughter": "One woman, from tears to laughter (20 s)"}


def captioned_examples(folder: Path, suffix: str, captions: dict[str, str]) -> dict[str, str]:
    """Each example file in ``folder`` with its caption, in the captions' order, then any others by name."""
    files = {path.stem: path for path in folder.glob(f"*{suffix}")}
    order = [stem for stem in captions if stem in files] + sorted(set(files) - set(captions))
    return {str(files[stem]): captions.get(stem, stem) for stem in order}


def show_examples(component: gr.components.Component, folder: Path, suffix: str, captions: dict[str, str]) -> None:
    """The captioned examples under ``component`` (none when the folder has none, as in a trimmed Space)."""
    examples = captioned_examples(folder, suffix, captions)
    if examples:
        gr.Examples([[path] for path in examples], inputs=component, example_labels=list(examples.values()))
