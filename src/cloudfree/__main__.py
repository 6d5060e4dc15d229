"""``python -m cloudfree`` runs the command-line interface."""

import sys

from cloudfree.cli import main

sys.exit(main())
