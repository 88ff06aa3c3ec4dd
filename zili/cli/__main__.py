"""``python -m zili.cli``: the same as the ``zili`` command."""

import sys

from zili.cli.main import main

sys.exit(main())
