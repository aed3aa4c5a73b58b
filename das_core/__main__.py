"""`python -m das_core ...`: see `das_core.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
