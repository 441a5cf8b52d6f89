"""Shared fixtures and marker handling.

GPU tests carry ``needs_cuda`` / ``needs_tensorrt``; they are skipped where the hardware or
library is missing, and fail instead when ``FAIL_WITHOUT_CUDA=1`` (GPU CI).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_DATA = SHARED / "data"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _tensorrt_available() -> bool:
    return importlib.util.find_spec("tensorrt") is not None and _cuda_available()


def pytest_runtest_setup(item: pytest.Item) -> None:
    strict = os.environ.get("FAIL_WITHOUT_CUDA") == "1"
    for marker, probe in (("needs_cuda", _cuda_available), ("needs_tensorrt", _tensorrt_available)):
        if item.get_closest_marker(marker) is not None and not probe():
            message = f"{marker}: no GPU / library on this machine"
            if strict:
                pytest.fail(message + " (FAIL_WITHOUT_CUDA=1)")
            pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests that need real faces skip without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real face data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def photo_sources(shared_data: Path, tmp_path_factory):
    """Training sources of three of the shared photos, framed for 32-pixel crops."""
    from streamfilter.train.dataset import load_sources

    folder = tmp_path_factory.mktemp("photos")
    for photo in sorted((shared_data / "images").iterdir())[:3]:
        (folder / photo.name).symlink_to(photo)
    return load_sources(None, folder, cache_dir=folder / "cache", crop_size=32, max_frames=10,
                        log=lambda message: None)

