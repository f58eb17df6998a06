"""The one way this project opens an onnxruntime session.

Without VNNI (AVX2-only x86 CPUs), onnxruntime's int8 kernels multiply uint8 by int8 with
``vpmaddubsw``, which saturates each pair of products at 32,767 in 16 bits: such a machine
answers differently from one with VNNI, from the browser and from the calibration that chose
the scales. ``session.x64quantprecision`` makes those kernels widen first, so every CPU computes
the exact int8 result; on CPUs with VNNI it changes nothing (docs/benchmarks.md, exact int8).
"""

from __future__ import annotations

import onnxruntime as ort

EXACT_INT8 = ("session.x64quantprecision", "1")


def session_options(threads: int | None = None, exact_int8: bool = True) -> ort.SessionOptions:
    """Quiet options that compute int8 exactly; ``threads`` caps the intra-op pool when given.

    ``exact_int8=False`` is onnxruntime's default, for measuring what the option changes
    (scripts/bench_int8_exact.py).
    """
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if exact_int8:
        options.add_session_config_entry(*EXACT_INT8)
    if threads:
        options.intra_op_num_threads = threads
    return options
