"""WebRTC transport: the recorder's gateway, the mock's calls, ICE and media helpers."""
