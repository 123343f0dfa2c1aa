"""``python -m verl_videorft.cli`` = the ``videorft`` console script."""

import sys

from verl_videorft.cli import main

sys.exit(main())
