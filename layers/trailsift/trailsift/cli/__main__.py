"""``python -m trailsift.cli``: the ``trailsift`` command without its console script."""

import sys

from trailsift.cli import main

sys.exit(main())
