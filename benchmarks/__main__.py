"""``python -m benchmarks``: run the whole suite (see ``--help``)."""

import sys

from benchmarks.suite import main

sys.exit(main())
