import sys

from dsrgan.cli import main

if __name__ == "__main__":  # guarded: spawned DataLoader workers import this module
    sys.exit(main())
