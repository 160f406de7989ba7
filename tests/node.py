"""The Node `openai` SDK for integration tests: found or installed once, then cached."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import external_missing

NODE_PACKAGES = ["openai@6.49.0", "ws@8"]
LIVE_NODE_PACKAGES = ["openai@7.59.0", "ws@8"]
"""The newest npm ``openai`` (7.59.0) has GPT-Live's ``LiveWS``; 6.x has none."""
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rtcapture-tests" / "node"


def node_dir(packages: list[str] = NODE_PACKAGES, cache: Path = CACHE) -> Path:
    """A folder whose node_modules has the openai SDK and ws (RTCAPTURE_NODE_DIR or a cache)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        external_missing("node and npm are needed for the Node SDK tests")
    given = os.environ.get("RTCAPTURE_NODE_DIR")
    folder = Path(given) if given and packages is NODE_PACKAGES else cache
    if not (folder / "node_modules" / "openai" / "package.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(folder),
             *packages], capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            external_missing(f"cannot install the Node openai SDK from the npm registry "
                             f"(set RTCAPTURE_NODE_DIR to a folder where `npm install "
                             f"{' '.join(NODE_PACKAGES)}` was run): {reason[-300:]}")
    return folder


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 made with the openssl command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key
