"""python -m inrlab.bench: see inrlab.bench."""

import sys

from .runner import main

sys.exit(main())
