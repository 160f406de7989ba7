#!/usr/bin/env python3
"""Regenerate the sample cassettes in samples/cassettes/ (byte for byte) from
samples/scenarios/samples.toml.

    python samples/make_samples.py [--out DIR]

The work is done by ``rtcapture.demo.samples`` (also ``python -m rtcapture.demo.samples``);
the tests regenerate the cassettes into a temporary folder and compare them byte for byte.
"""

import sys
from pathlib import Path

from rtcapture.demo.samples import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], root=Path(__file__).resolve().parent.parent))
