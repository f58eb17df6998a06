"""Facial expression recognition: data, models, training, serving.

Importing ``fer`` imports nothing heavy: the app serves an exported model with
onnxruntime alone, without torch. ``import fer.models`` registers our architectures with
timm, so that ``timm.create_model("local-dir:...")`` can rebuild a checkpoint of a custom
model; ``fer.checkpoint.load_checkpoint`` does that itself.
"""
