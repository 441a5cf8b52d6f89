"""Where the project keeps what it derives once and reuses (exported graphs, face tracks,
the parsed shape predictor); importing it costs nothing (no torch, no dlib)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """``$FACEDEBLUR_CACHE``, else ``$XDG_CACHE_HOME/facedeblur-stream``, else ``~/.cache/...``."""
    explicit = os.environ.get("FACEDEBLUR_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facedeblur-stream"
