import sys

from dsrgan.cli import main

sys.exit(main())
