"""The model contract: what a checkpoint is, and how any caller turns faces into scores.

- ``labels``: the seven classes in their one order; ``preprocess``: size and normalisation.
- ``checkpoint_files``: the one reader of a checkpoint's files, which are untrusted input.
- ``checkpoint_info``: a checkpoint folder read without torch; ``checkpoint``: its torch model.
- ``networks``: timm models, with our compact ``fernet_*`` registered.
- ``transforms`` and ``inference``: the one torch path from uint8 faces to probabilities.
- ``onnx_export`` and ``onnx_classifier``: the same network written to and served by onnxruntime;
  ``onnx_check``: what a classifier graph from a checkpoint may contain.
"""
