"""The Gradio app's parts; ``app.py`` lays out the page and wires these to it.

- ``served``: the models this server answers with, loaded once.
- ``photo``, ``live``, ``video``, ``api``, ``about``: each tab's handlers, callable without a server.
- ``examples``, ``face_cards``, ``downloads``: what the page shows and offers to download.
- ``blocks``, ``image_input``, ``limits``: refusing bad calls and inputs, and capping cost.
- ``text``: a checkpoint's or an error's words shown as text, never as Markdown or HTML.
- ``model_choices``: the checkpoints the model picker offers.
"""
