"""The recording proxy: relay legs, the recorder server and its writer sink."""
