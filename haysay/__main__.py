import sys

from haysay.cli import main

sys.exit(main())
