#!/usr/bin/env python3
"""Regenerate the GPT-Live sample cassettes in samples/cassettes/live/ (byte for byte).

    python samples/make_live_samples.py [--out DIR]

The work is done by ``rtcapture.mock.live.samples``; the tests regenerate the cassettes
into a temporary folder and compare them byte for byte.
"""

import sys

from rtcapture.mock.live.samples import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
