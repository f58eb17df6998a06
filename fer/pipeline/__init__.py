"""The face pipeline: an image in; every face found, classified, explained and drawn out.

- ``images``: untrusted files to pixels; ``faces``: detection and the FER2013-like crop.
- ``predict``: ``Predictor``, the one object that goes from image to scored faces.
- ``uncertainty``, ``explain``: when to doubt a score, and where the model looked.
- ``annotate``: boxes, labels and heatmaps on the picture.
- ``tracking``, ``live``, ``video``: faces followed from frame to frame, in a stream or a clip;
  ``regions``: Live looking for them only where they were.
- ``api_types``: the shapes of what the pipeline returns, as the public API documents them.
"""
