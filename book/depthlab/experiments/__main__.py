"""``python -m depthlab.experiments``: see `depthlab.experiments.cli`."""
import sys

from .cli import main

sys.exit(main())
