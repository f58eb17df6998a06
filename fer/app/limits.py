"""What the app lets one visitor cost it, in one place (the page states these figures).

Every event that runs the detector or the classifier (photo, API, live) joins one
concurrency group, so concurrent heavy requests wait their turn instead of multiplying
memory; the queue in front of it is bounded and a full one answers "busy, try again";
uploads are capped in size and deleted once they are old.
"""

from __future__ import annotations

import os

# A checkpoint's files are capped where they are read, for the app, training and batch alike:
# fer.model.checkpoint_files (MAX_JSON_BYTES, MAX_WEIGHTS_BYTES, MAX_ONNX_BYTES), and one classifier
# call is stopped after FER_MODEL_CALL_LIMIT_S (fer.model.onnx_classifier.CALL_LIMIT_S).
MAX_UPLOAD_MB = 20
QUEUE_SIZE = int(os.environ.get("FER_QUEUE_SIZE", "32"))  # waiting events beyond this are refused: "busy"
MODEL_WORKERS = int(os.environ.get("FER_MODEL_WORKERS", "2"))  # events running the model at once
CACHE_SWEEP_S = 300  # how often uploads and outputs are swept from the cache ...
CACHE_MAX_AGE_S = 600  # ... removing those older than this
LIVE_TIME_LIMIT_S = 120  # one Live stream's length; start it again to go on

# Passed to every event that runs a network: one shared slot pool.
MODEL_EVENTS = {"concurrency_id": "model", "concurrency_limit": MODEL_WORKERS}


def monitoring_enabled() -> bool:
    """Gradio's /monitoring pages show traffic to anyone: served only when asked for."""
    return os.environ.get("FER_MONITORING", "").lower() in ("1", "true", "yes")


def launch_options() -> dict:
    """Keyword arguments for ``Blocks.launch``: the upload cap and monitoring off."""
    return {"max_file_size": f"{MAX_UPLOAD_MB}mb", "enable_monitoring": monitoring_enabled()}
