"""What one Live stream remembers between frames: its face tracker and its frame rate."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from fer.tracking import FaceTracker

RATE_WINDOW = 20  # frames the shown rate is averaged over


@dataclass
class LiveState:
    tracker: FaceTracker = field(default_factory=FaceTracker)
    times: deque = field(default_factory=lambda: deque(maxlen=RATE_WINDOW))

    def tick(self, now: float) -> str:
        """Record a frame answered at ``now`` (seconds); the rate over the last frames, as text."""
        self.times.append(now)
        if len(self.times) < 2 or self.times[-1] == self.times[0]:
            return "Measuring the frame rate..."
        rate = (len(self.times) - 1) / (self.times[-1] - self.times[0])
        return f"**{rate:.1f}** frames/s answered"
