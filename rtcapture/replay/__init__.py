"""Replay and diff: re-drive a recording's client side against an endpoint, compare sessions.

``plan`` (what each client frame waits for), ``idmap`` (server id translation), ``driver``
(the paced client), ``recording`` (storing the replay), ``digest`` / ``diff`` / ``paths`` /
``report`` (the comparison and its output), ``run`` (the entry points the CLI calls).
"""
