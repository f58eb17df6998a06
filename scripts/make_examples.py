"""Build the app's example photos from images that scikit-image and matplotlib ship (nothing downloaded).

All are free to use: NASA's portrait of Eileen Collins (``astronaut``) and the US Navy's of Grace
Hopper (matplotlib's ``grace_hopper.jpg``) are US government works in the public domain;
scikit-image's ``camera`` and ``coffee`` carry no copyright restrictions (its data README).

python scripts/make_examples.py        # writes examples/*.jpg
"""

from __future__ import annotations

from pathlib import Path

from matplotlib import cbook
from PIL import Image, ImageOps
from skimage import data

OUT = Path(__file__).resolve().parents[1] / "examples"


def four_faces() -> Image.Image:
    """A 2x2 collage: four faces of different sizes and poses in one 640x480 frame."""
    astronaut = Image.fromarray(data.astronaut())
    camera = Image.fromarray(data.camera()).convert("RGB")
    tiles = [astronaut, camera, ImageOps.mirror(astronaut), astronaut.rotate(20, fillcolor=(255, 255, 255))]
    collage = Image.new("RGB", (640, 480), "white")
    for i, tile in enumerate(tiles):
        collage.paste(tile.resize((320, 240)), ((i % 2) * 320, (i // 2) * 240))
    return collage


def main() -> None:
    OUT.mkdir(exist_ok=True)
    astronaut = Image.fromarray(data.astronaut())
    examples = {
        "one_face.jpg": astronaut,
        "four_faces.jpg": four_faces(),
        "tilted_face.jpg": astronaut.rotate(30, expand=True, fillcolor=(255, 255, 255)),
        "no_face.jpg": Image.fromarray(data.coffee()),
        "older_face.jpg": Image.open(cbook.get_sample_data("grace_hopper.jpg")),
    }
    for name, image in examples.items():
        image.save(OUT / name, quality=85)
        print(OUT / name)


if __name__ == "__main__":
    main()
