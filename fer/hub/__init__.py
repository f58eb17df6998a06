"""Checkpoints on the Hugging Face Hub.

- ``resolve``: which local folder a name means (a folder, or a repo id fetched into the cache).
- ``client``: push a checkpoint folder with its card, download one, errors in one sentence.
- ``model_card``: the ``README.md`` written from what a run saved.
"""
