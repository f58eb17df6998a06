"""The page's examples: each one captioned for the page and credited with its source and licence."""

from __future__ import annotations

from pathlib import Path

from fer.app import examples

EXAMPLES = examples.EXAMPLES


def test_every_example_is_captioned_and_credited():
    credits = (EXAMPLES / "CREDITS.md").read_text()
    photos = examples.captioned_examples(EXAMPLES, ".jpg", examples.EXAMPLE_CAPTIONS)
    videos = examples.captioned_examples(EXAMPLES / "video", ".mp4", examples.VIDEO_EXAMPLE_CAPTIONS)
    files = [path for path in EXAMPLES.rglob("*") if path.is_file() and path.name != "CREDITS.md"]
    assert sorted(str(path) for path in files) == sorted([*photos, *videos])  # every file is shown
    assert {Path(path).stem for path in photos} == set(examples.EXAMPLE_CAPTIONS)
    assert {Path(path).stem for path in videos} == set(examples.VIDEO_EXAMPLE_CAPTIONS)
    for path in files:
        assert f"`{path.relative_to(EXAMPLES).as_posix()}`" in credits, f"{path.name} is not credited"
    assert list(photos.values()) == list(examples.EXAMPLE_CAPTIONS.values())  # the captions' order, not the files'
