"""``rtcapture demo`` and the sample cassettes: scripted client flows through the mock.

``flows`` holds the flows (text turn, voice turn under server VAD, function call, barge-in,
cancel, error, dropped connection) over a small client interface (``client``: the
``openai`` SDK or a built-in WebSocket client; ``inprocess``: a deterministic one);
``run`` is the demo, ``tour`` what it prints, ``samples`` regenerates ``samples/cassettes``.
"""
