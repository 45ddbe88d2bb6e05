"""``python -m leaderboard``: see :mod:`leaderboard.cli`."""

import sys

from .cli import main

sys.exit(main())
