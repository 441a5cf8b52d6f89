"""The landmark backends by name, and the factory that builds one.

The backends themselves (:mod:`.dlib_backend`, :mod:`.fan_backend`) are imported only when
one is built, so choosing a name costs neither dlib nor torch; their common types live in
:mod:`.types`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from ..errors import UsageError

if TYPE_CHECKING:
    from .types import LandmarkBackend

BackendName = Literal["dlib", "fan"]
BACKENDS: tuple[str, ...] = get_args(BackendName)
"""Every landmark backend's name: the choices of each command's landmark option."""


def make_backend(name: str, *, min_face_size: int = 40, device: str = "cpu") -> LandmarkBackend:
    """Build the backend called ``name`` (one of :data:`BACKENDS`)."""
    if name == "dlib":
        from .dlib_backend import DlibBackend

        return DlibBackend(min_face_size=min_face_size)
    if name == "fan":
        from .fan_backend import FanBackend

        return FanBackend(min_face_size=min_face_size, device=device)
    raise UsageError(f"unknown landmark backend {name!r}; choose one of: {', '.join(BACKENDS)}")
