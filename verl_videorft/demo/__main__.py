"""``python -m verl_videorft.demo`` = ``videorft demo``."""

import sys

from verl_videorft.cli.demo import main

sys.exit(main())
