"""`python -m benchsuite`: the command line (benchsuite/cli/)."""

import sys

from benchsuite.cli import main

if __name__ == "__main__":
    sys.exit(main())
