"""Training, evaluation and export: everything that only training needs.

Commands (``python -m train.<name>``): ``train``, ``evaluate``, ``export`` (ONNX), ``calibrate``
(the "uncertain" threshold), ``soft_targets`` (teachers stored for distillation), ``push``, ``bench``.
The loop's parts: ``args``, ``build``, ``step``, ``distill``, ``runtime``, ``resume`` with
``state_io``, ``outputs``. Its data: ``data`` (FER2013 sources), ``augment``, ``metrics``,
``plots``, ``corruptions``.
"""
