"""The models on the visitor's device: onnxruntime-web's pinned files, and the config and static
folder the browser pipeline (``web/``) runs from. Above ``fer.pipeline``, below ``fer.app``."""
