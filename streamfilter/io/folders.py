"""Folders of videos (training data, evaluation clips, mined clips)."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".nut", ".ts")


def video_files(folder: Path, *, role: str = "video") -> list[Path]:
    """Video files directly inside ``folder``, sorted by name; ``InputError`` naming ``role``
    (e.g. "training data") when the folder is missing or holds no video."""
    if not folder.is_dir():
        raise InputError(f"{role} folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise InputError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) in {folder}")
    return files
