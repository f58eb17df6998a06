"""Command-line scripts: train, evaluate, benchmark (run as ``python -m train.<name>``)."""
