"""``python3 -m bridge``: the same as the ``pppbridge`` command."""

import sys

from .cli import main

sys.exit(main())
