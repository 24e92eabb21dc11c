"""``python -m drawbridge``."""

from drawbridge.cli.main import main

main()
