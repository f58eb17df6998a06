"""``python -m fer.batch``: see ``fer.batch``."""

import sys

from fer.batch.cli import main

sys.exit(main())
