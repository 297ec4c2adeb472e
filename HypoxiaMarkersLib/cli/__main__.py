"""``python -m HypoxiaMarkersLib.cli``: the ``hypoxia-markers`` command without the console script."""

import sys

from . import main

sys.exit(main())
