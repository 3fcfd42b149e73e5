"""``python3 -m local.recipe_env setup|check ...`` (from the recipe root): see :mod:`local.recipe_env.cli`."""

import sys

from .cli import main

sys.exit(main())
