"""``python -m atproto_async``: the same command line as ``atproto-async``."""

import sys

from atproto_async.cli import main

sys.exit(main())
