"""``python -m rtcapture``."""

from .cli import main

main()
