"""``python3 -m local.embedded_corpus``: see :mod:`local.embedded_corpus.cli`."""

import sys

from .cli import main

sys.exit(main())
