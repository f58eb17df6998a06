"""Live looking only around the faces it follows, against looking at the whole frame every time, on
moving clips.

    python scripts/bench_live_regions.py --out bench/live_regions.json [--analyses 64] [--faces 800]

Each clip is a 320x240 camera panning over one of the example photos (and scikit-image's astronaut)
at 0 to 16 px an analysis, so every face moves through the frame as a head moving before a webcam
would; and the example video (a woman turning her head as she cries and laughs) at Live's 320 px,
every second frame analysed, as Live analyses them. Both ways run the same Live
(``fer.app.live.detect_keyframe`` on Live's 320 px detector) on the same frames: one with
``LiveState.look`` as served (whole frame every ``WHOLE_LOOK_EVERY``-th analysis), one looking at
the whole frame every time, as Live did before. Reported, per speed: the share of the whole-frame
faces that the region looks keep (same place, IoU >= 0.5), faces they found that it did not, people
numbered afresh, the agreement of the smoothed top labels, and the detector's milliseconds an
analysis (natively, one thread; the browser's are in bench/light_detector.json and bench/web.json).
Also: the accuracy of a look around a face against a whole-frame look, on FER2013 validation faces
pasted into 320x240 frames, and server Live's own time a frame either way.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from fer.app.live import detect_keyframe  # noqa: E402
from fer.pipeline.faces import CenterFaceDetector  # noqa: E402
from fer.pipeline.live import DETECT_EVERY, LiveState  # noqa: E402
from fer.pipeline.predict import Predictor  # noqa: E402
from fer.pipeline.regions import RegionDetector, regions_around  # noqa: E402
from fer.pipeline.tracking import box_iou  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from tests.chromium import webcam_view  # noqa: E402
from train.bench import write_report  # noqa: E402

FRAME = (320, 240)
VALIDATION_FACE_SIDES = (64, 96, 160)
CLIP = ROOT / "examples" / "video" / "tears_to_laughter.mp4"
PHOTOS = ("one_face", "older_face", "tilted_face", "downcast_face", "hand_at_mouth", "four_faces")
SPEEDS = (0, 4, 8, 16)  # pixels the camera pans between two analyses
# Each photo is scaled to this height and laid on a grey scene at least this wide, over which the
# camera pans: mostly sideways, so that the faces stay in view, as before a webcam.
PANORAMA = (440, 280)


def panoramas() -> dict[str, Image.Image]:
    photos = {name: Image.open(ROOT / "examples" / f"{name}.jpg").convert("RGB") for name in PHOTOS}
    photos["astronaut"] = Image.fromarray(data.astronaut())
    scenes = {}
    for name, photo in photos.items():
        photo = photo.resize((round(photo.width * PANORAMA[1] / photo.height), PANORAMA[1]), Image.BILINEAR)
        scene = Image.new("RGB", (max(PANORAMA[0], photo.width), PANORAMA[1]), (128, 128, 128))
        scene.paste(photo, ((scene.width - photo.width) // 2, 0))
        scenes[name] = scene
    return scenes


def triangle(step: int, span: int) -> int:
    """Back and forth over 0..span, one pixel a step."""
    if span <= 0:
        return 0
    phase = step % (2 * span)
    return phase if phase <= span else 2 * span - phase


def clip(panorama: Image.Image, speed: int, analyses: int) -> list[Image.Image]:
    """The frames analysed: the camera moves ``speed`` px to the side and half that up or down between two."""
    span_x, span_y = panorama.width - FRAME[0], panorama.height - FRAME[1]
    start_x, start_y = span_x // 2, span_y // 2
    frames = []
    for i in range(analyses):
        x, y = triangle(start_x + i * speed, span_x), triangle(start_y + i * speed // 2, span_y)
        frames.append(panorama.crop((x, y, x + FRAME[0], y + FRAME[1])))
    return frames


def run_live(predictor: Predictor, frames: list[Image.Image], whole_look_every: int | None) -> tuple[list, float]:
    """Each frame's keyframe faces as (box, person, top label), and the detector's ms an analysis."""
    state = LiveState() if whole_look_every is None else LiveState(whole_look_every=whole_look_every)
    answers = []
    timed = TimedDetector(predictor.detector)
    predictor = predictor.with_detector(timed)
    for frame in frames:
        keyframe = detect_keyframe(frame, state, predictor)
        faces = zip(keyframe.faces, keyframe.people)
        answers.append([(face.box, person, face.top_k(1)[0]["label"]) for face, person in faces])
    return answers, 1000 * timed.seconds / len(frames)


class TimedDetector:
    """Live's detector, with the time spent in it added up (region looks call it once per region)."""

    def __init__(self, detector: CenterFaceDetector) -> None:
        self.detector, self.seconds = detector, 0.0

    def detect(self, rgb: np.ndarray, max_side: int | None = None):
        started = time.perf_counter()
        faces = self.detector.detect(rgb, max_side)
        self.seconds += time.perf_counter() - started
        return faces


def compare(regions: list, whole: list) -> dict:
    """How the region looks' faces stand against the whole-frame looks', frame by frame."""
    kept = missed = extra = same_label = 0
    for ours, theirs in zip(regions, whole):
        if ours and theirs:
            iou = box_iou(np.array([f[0] for f in ours]), np.array([f[0] for f in theirs]))
            pairs = [(i, j) for j in range(len(theirs)) for i in [int(iou[:, j].argmax())] if iou[i, j] >= 0.5]
        else:
            pairs = []
        kept += len(pairs)
        missed += len(theirs) - len(pairs)
        extra += len(ours) - len(pairs)
        same_label += sum(ours[i][2] == theirs[j][2] for i, j in pairs)

    def people(answers: list) -> int:
        return len({person for faces in answers for _, person, _ in faces})

    return {
        "whole_frame_faces": kept + missed,
        "kept": kept,
        "missed": missed,
        "extra": extra,
        "same_top_label": same_label,
        "people_numbered": people(regions),
        "people_numbered_whole_frame": people(whole),
    }


def clips_at_speed(
    predictor: Predictor, scenes: dict[str, Image.Image], speed: int, analyses: int
) -> tuple[dict[str, dict], dict]:
    """``both_ways`` on each scene's clip at ``speed`` px an analysis: the results by clip, and their sums."""
    results: dict[str, dict] = {}
    totals: dict = {}
    for name, panorama in scenes.items():
        result = results[f"{name}_{speed}px"] = both_ways(predictor, clip(panorama, speed, analyses))
        for key, value in result.items():
            totals[key] = totals.get(key, 0) + value
        print(f"{name} at {speed} px: {result}", flush=True)
    return results, totals


def shares(totals: dict) -> dict:
    """``compare``'s counts added up over clips, as shares of the whole-frame looks' faces."""
    faces = max(totals["whole_frame_faces"], 1)
    return {
        "kept_share": round(totals["kept"] / faces, 3),
        "extra_share": round(totals["extra"] / faces, 3),
        "same_top_label_share": round(totals["same_top_label"] / max(totals["kept"], 1), 3),
        "people_numbered": totals["people_numbered"],
        "people_numbered_whole_frame": totals["people_numbered_whole_frame"],
    }


def both_ways(predictor: Predictor, frames: list[Image.Image]) -> dict:
    """``compare`` of Live as served against Live looking at the whole frame every time, with the
    detector's milliseconds an analysis each way."""
    regions, regions_ms = run_live(predictor, frames, None)
    whole, whole_ms = run_live(predictor, frames, 1)
    return compare(regions, whole) | {"detector_ms_regions": regions_ms, "detector_ms_whole": whole_ms}


def accuracy_on_validation_faces(predictor: Predictor, count: int, face_sides: tuple[int, ...]) -> dict:
    """FER2013 validation faces, each pasted at each of ``face_sides`` px into its own flat 320x240
    frame: the share Live finds and the accuracy of the largest face found, by a whole-frame look
    and by a look around the face that look found (the crop a region look gives, at its smaller scale)."""
    from app_bench.detector_sides import face_in_scene, validation_sample

    from fer.model.labels import CLASS_NAMES

    faces, on_crops = validation_sample(ROOT.parent / "shared" / "data" / "fer2013.zip", count)
    rng = np.random.default_rng(0)
    report: dict = {"faces": count, "accuracy_on_the_crops_themselves": on_crops}
    for side in face_sides:
        right = {"whole_frame": [], "around_the_face": []}
        found_around = 0
        for image, label in zip(faces.images, faces.labels):
            frame = face_in_scene(image, FRAME, side, rng)
            whole = predictor.predict(frame)[0]
            if not whole.detected:
                continue
            looking = predictor.with_detector(RegionDetector(predictor.detector, regions_around([whole.box], FRAME)))
            around = looking.predict(frame)[0]
            right["whole_frame"].append(CLASS_NAMES.index(whole.top_k(1)[0]["label"]) == label)
            if around.detected:
                found_around += 1
                right["around_the_face"].append(CLASS_NAMES.index(around.top_k(1)[0]["label"]) == label)
        found = len(right["whole_frame"])
        report[f"faces_{side}px"] = {
            "found_whole_frame": round(found / count, 4),
            "found_again_around_the_face": round(found_around / max(found, 1), 4),
            "accuracy_whole_frame": round(float(np.mean(right["whole_frame"])), 4) if found else None,
            "accuracy_around_the_face": round(float(np.mean(right["around_the_face"])), 4) if found_around else None,
        }
        print(f"validation faces at {side} px: {report[f'faces_{side}px']}", flush=True)
    return report


def server_live_frame_ms(repeats: int) -> dict:
    """Server Live's own time a frame (``fer.app.live.analyse_frame``, every second frame
    analysed), looking around the faces as served against looking at the whole frame every time,
    taking turns, on the browser test's webcam view and on four faces in 640x480."""
    from app_bench.common import photo_bytes
    from app_bench.in_process import live_frame_ms

    frames = {
        "320x240_one_face": np.asarray(webcam_view()),
        "640x480_four_faces": np.asarray(Image.open(io.BytesIO(photo_bytes("four_faces.jpg"))).convert("RGB")),
    }
    report = {}
    for name, frame in frames.items():
        runs = {"around_faces": [], "whole_frame": []}
        for _ in range(3):
            runs["around_faces"].append(live_frame_ms(frame, DETECT_EVERY, repeats))
            runs["whole_frame"].append(live_frame_ms(frame, DETECT_EVERY, repeats, whole_look_every=1))
        medians = {key: float(np.median(values)) for key, values in runs.items()}
        report[name] = medians | {"ratio": round(medians["around_faces"] / medians["whole_frame"], 2)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=writable_file_argument, default=ROOT / "bench" / "live_regions.json")
    parser.add_argument("--analyses", type=int, default=64, help="analyses a clip")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls for server Live's time a frame")
    parser.add_argument("--faces", type=int, default=800, help="FER2013 validation faces, for accuracy (0: none)")
    args = parser.parse_args()
    predictor = Predictor(detector=CenterFaceDetector(max_side=FRAME[0], threads=1))
    report: dict = {"analyses_a_clip": args.analyses, "clips": {}, "by_speed": {}}
    if args.faces:
        report["validation_faces"] = accuracy_on_validation_faces(predictor, args.faces, VALIDATION_FACE_SIDES)
    scenes = panoramas()
    for speed in SPEEDS:
        results, totals = clips_at_speed(predictor, scenes, speed, args.analyses)
        report["clips"].update({name: {k: round(v, 2) for k, v in result.items()} for name, result in results.items()})
        report["by_speed"][f"{speed}px_an_analysis"] = shares(totals) | {
            "detector_ms_regions": round(totals["detector_ms_regions"] / len(scenes), 2),
            "detector_ms_whole": round(totals["detector_ms_whole"] / len(scenes), 2),
        }
    report["server_live_frame_ms"] = server_live_frame_ms(args.repeats)
    video = [Image.fromarray(frame) for frame in imageio.get_reader(CLIP)][::DETECT_EVERY]
    video = [frame.resize((320, round(320 * frame.height / frame.width)), Image.BILINEAR) for frame in video]
    result = both_ways(predictor, video)
    report["example_video"] = {k: round(v, 2) for k, v in result.items()} | {"analyses": len(video)}
    write_report(report, args.out)


if __name__ == "__main__":
    main()
