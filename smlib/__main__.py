"""``python -m smlib <recipe> [options]``: see :mod:`smlib.cli`."""
import sys

from smlib.cli import main

if __name__ == "__main__":
    sys.exit(main())
