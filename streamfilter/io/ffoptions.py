"""Whether FFmpeg knows an option name, so that a mistyped ``--input-option`` or
``--output-option`` is refused before anything runs (FFmpeg ignores options nobody consumes).

A name is known when ``av_opt_find`` finds it in the format context's class or any class below
it (every muxer, demuxer and protocol, avio included), or in the codec context's class and the
codecs' classes: PyAV hands a container's options to its streams' codecs too. This is the
``ffmpeg`` tool's own test, made without opening anything. PyAV exposes no option tables, so
the lookup calls PyAV's FFmpeg libraries through ``ctypes``; where they cannot be found names
are not checked, and ``-v`` says so.
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
from functools import lru_cache

from ..errors import UsageError

_SEARCH_CHILDREN_OF_FAKE_OBJECT = 1 | 2  # AV_OPT_SEARCH_CHILDREN | AV_OPT_SEARCH_FAKE_OBJ

log = logging.getLogger(__name__)


def _loaded_library(stem: str) -> str | None:
    """The path of PyAV's FFmpeg library ``stem`` (e.g. ``libavformat``): the copy its wheel
    bundles (``av.libs``, ``av/.dylibs``), else one this process loaded from outside any
    package (a PyAV built on the system's FFmpeg). Other packages bundle FFmpeg builds of their
    own (OpenCV's wheel does), with other codecs: those are never taken."""
    import av  # loads the libraries

    package = os.path.dirname(av.__file__)
    for folder in (os.path.join(package, os.pardir, "av.libs"), os.path.join(package, ".dylibs")):
        found = sorted(glob.glob(os.path.join(folder, stem + "*")))
        if found:
            return found[0]
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rstrip("\n").rsplit(" ", 1)[-1]
                if (os.path.basename(path).startswith((stem + "-", stem + "."))
                        and "site-packages" not in path and "dist-packages" not in path):
                    return path
    except OSError:
        pass
    return None


@lru_cache(maxsize=1)
def _lookup():
    """``known(name)`` over the format and codec classes, or ``None`` where the libraries are not found."""
    paths = {stem: _loaded_library(stem) for stem in ("libavutil", "libavformat", "libavcodec")}
    if None in paths.values():
        log.info("FFmpeg's libraries were not located (%s): option names are not checked",
                 ", ".join(stem for stem, path in paths.items() if path is None))
        return None
    try:
        util, fmt, codec = (ctypes.CDLL(paths[stem]) for stem in ("libavutil", "libavformat", "libavcodec"))
        find = util.av_opt_find
        find.restype = ctypes.c_void_p
        find.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
        fmt.avformat_get_class.restype = codec.avcodec_get_class.restype = ctypes.c_void_p
        classes = [ctypes.c_void_p(fmt.avformat_get_class()), ctypes.c_void_p(codec.avcodec_get_class())]
    except (OSError, AttributeError) as exc:
        log.info("FFmpeg's option tables are not readable (%s): option names are not checked", exc)
        return None

    def known(name: str) -> bool:
        key = name.encode()
        return any(find(ctypes.byref(cls), key, None, 0, _SEARCH_CHILDREN_OF_FAKE_OBJECT) for cls in classes)

    return known


def check_option_names(options: dict[str, str], *, flag: str) -> None:
    """``UsageError`` naming the first key of ``options`` that no FFmpeg format, protocol or
    codec takes; ``flag`` names the option in the message."""
    known = _lookup()
    if known is None:
        return
    for key, value in options.items():
        if not known(key):
            raise UsageError(f"{flag} {key}={value}: FFmpeg has no option {key!r} "
                             "(formats, protocols and codecs; see `ffmpeg -h full`)")
