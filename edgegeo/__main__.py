import sys

from edgegeo.cli import main

sys.exit(main())
