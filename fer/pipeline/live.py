"""Live: what one stream remembers between frames (its faces, tracker and frame rate), and its start."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fer.pipeline.regions import Region, region_cost, regions_around
from fer.pipeline.tracking import FaceTracker

if TYPE_CHECKING:
    from fer.pipeline.predict import FacePrediction

RATE_WINDOW = 20  # frames the shown rate is averaged over
PANEL_EVERY_S = 0.2  # the panel and rate are redrawn at most this often
DETECT_EVERY = 2  # faces are detected and classified on every second frame, and held on the one between
# Every sixteenth analysis looks at the whole frame for faces that came into view; the others look
# only around the faces followed (fer.pipeline.regions says why). A whole look holds the labels
# several times longer than a look around the faces, so on the device fewer of them keep the labels
# younger; a face lost from its region is looked for in the whole frame at once all the same
# (docs/benchmarks.md, "Looking around the faces it follows").
WHOLE_LOOK_EVERY = 16
# The Start button's script, for the page's #webcam: one click for what Gradio's webcam needs
# two (allow the camera, then record). scripts/bench_live.py's no-op page starts the same way.
START_LIVE_JS = """async () => {
  const button = (text) => [...document.querySelectorAll('#webcam button')].find((b) => b.innerText.includes(text));
  for (let tries = 0; tries < 100; tries++) {
    const allow = button('Click to Access Webcam');
    const record = button('Record');
    if (allow) allow.click();
    else if (record && !record.innerText.includes('Stop')) { record.click(); return; }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}"""


@dataclass(frozen=True)
class Panel:
    """What Live's panel is to show: a header (whose face, or why there is none) and the scores."""

    header: str
    scores: dict[str, float] | None = None


@dataclass
class Keyframe:
    """The faces last detected and labelled in a stream, with their people's numbers: drawn again
    on the frames until the next detection.

    Why: detecting and classifying are nearly all of the server's own work per Live frame
    (bench/app.json, ``live_frame_*``), and a face moves little between two frames, so the held
    box stays close to where a fresh detection would put it (``live_held_boxes``). The labels are
    not read from the newer frame through the older box: a crop a few pixels off sways the
    classifier more than the face's expression changes in one frame.
    """

    size: tuple[int, int]  # the frame's (width, height): a frame of another size is detected afresh
    faces: list[FacePrediction]
    people: list[int]
    shown: int = 1  # frames it has been drawn on


@dataclass
class LiveState:
    tracker: FaceTracker = field(default_factory=FaceTracker)
    keyframe: Keyframe | None = None
    detect_every: int = DETECT_EVERY
    whole_look_every: int = WHOLE_LOOK_EVERY
    since_whole_look: int = 0  # analyses since the last one that looked at the whole frame
    looked_for: int = 0  # faces the last analysis looked for around them (0: it looked at the whole frame)
    times: deque = field(default_factory=lambda: deque(maxlen=RATE_WINDOW))
    panel_every_s: float = PANEL_EVERY_S
    panel_shown_at: float = float("-inf")
    header_shown: str | None = None  # the panel's header as last sent to the page
    sent: tuple[dict[str, float] | None, str] = (None, "")  # the panel's scores and the rate, as last sent

    def held(self, size: tuple[int, int]) -> Keyframe | None:
        """The keyframe to draw again on a frame of ``size`` (width, height), or None when this
        frame is to be detected afresh; if held, noted as drawn once more."""
        keyframe = self.keyframe
        if keyframe is None or keyframe.size != size or keyframe.shown >= self.detect_every:
            return None
        keyframe.shown += 1
        return keyframe

    def look(self, size: tuple[int, int]) -> list[Region] | None:
        """Where the next analysis of a frame of ``size`` (width, height) looks for faces: around
        each face the last one found, or at the whole frame (None). Whole every
        ``whole_look_every``-th analysis, and whenever the last found none, the frame's size
        changed, the last look around faces lost one (it is looked for at once, wherever it went) or
        the regions would cost more than half a whole look (many faces, or near ones)."""
        keyframe = self.keyframe
        regions = None
        if keyframe is not None and keyframe.faces and keyframe.size == size:
            lost_one = len(keyframe.faces) < self.looked_for
            if not lost_one and self.since_whole_look + 1 < self.whole_look_every:
                regions = regions_around([face.box for face in keyframe.faces], size)
        if regions is not None and 2 * region_cost(regions) > size[0] * size[1]:
            regions = None
        self.since_whole_look = 0 if regions is None else self.since_whole_look + 1
        self.looked_for = len(regions) if regions else 0
        return regions

    def panel_due(self, now: float) -> bool:
        """Whether the panel and rate are to be redrawn at ``now`` (seconds); if so, noted as redrawn."""
        if now - self.panel_shown_at < self.panel_every_s:
            return False
        self.panel_shown_at = now
        return True

    def header_changes(self, panel: Panel) -> bool:
        """Whether ``panel``'s header differs from the one the page shows; if so, noted as shown."""
        if panel.header == self.header_shown:
            return False
        self.header_shown = panel.header
        return True

    def tick(self, now: float) -> str:
        """Record a frame answered at ``now`` (seconds); the rate over the last frames, as text."""
        self.times.append(now)
        if len(self.times) < 2 or self.times[-1] == self.times[0]:
            return "Measuring the frame rate..."
        rate = (len(self.times) - 1) / (self.times[-1] - self.times[0])
        return f"**{rate:.1f}** frames/s answered"
