"""Facial expression recognition: data, models, training, serving.

Importing ``fer`` registers our architectures with timm, so that
``timm.create_model("local-dir:...")`` can rebuild a checkpoint of a custom model.
"""

from fer import models as _models  # noqa: F401  (registers FerNet variants with timm)
