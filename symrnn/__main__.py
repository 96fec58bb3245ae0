"""``python -m symrnn``: the command line (:mod:`symrnn.cli`).

Imports: cli only.
"""

import sys

from .cli import main

sys.exit(main())
