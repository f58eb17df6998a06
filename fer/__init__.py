"""Facial expression recognition: the model, the face pipeline, Hub publishing and the app's parts.

The folders, from the bottom up (each imports only those below it):

- ``fer.utils``: atomic file writes, and the device and precision torch computes with.
- ``fer.model``: the model contract: labels, preprocessing, networks, checkpoints, ONNX.
- ``fer.hub``: naming, fetching and publishing checkpoints on the Hugging Face Hub.
- ``fer.pipeline``: image in, faces found, classified, explained, tracked and drawn out.
- ``fer.app``: the Gradio page's handlers and guards; ``app.py`` lays the page out.
- ``fer.batch``: the same pipeline over photo and video collections, in one process or on Ray.

Importing ``fer`` or any of its folders imports nothing heavy: the app serves an exported
model with onnxruntime alone, and torch is imported only by the modules that need it.
"""
