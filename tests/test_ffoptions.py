"""Option names checked against FFmpeg's own option tables."""

from __future__ import annotations

import logging
import os

import pytest

from streamfilter.errors import UsageError
from streamfilter.io import ffoptions
from streamfilter.io.ffoptions import check_option_names


@pytest.mark.parametrize("name", ["rw_timeout", "listen", "probesize", "fflags", "movflags", "frag_duration",
                                  "rtmp_live", "pkt_size", "video_size", "threads", "crf", "x264-params"])
def test_names_of_formats_protocols_and_codecs_are_known(name):
    check_option_names({name: "1"}, flag="--input-option")


@pytest.mark.parametrize("name", ["rw_timout", "movflag", "no_such_option", ""])
def test_other_names_are_refused_with_the_flag_and_the_name(name):
    with pytest.raises(UsageError, match=f"--output-option {name}=1: FFmpeg has no option '{name}'"):
        check_option_names({"probesize": "1", name: "1"}, flag="--output-option")


def test_names_are_not_checked_where_the_libraries_are_not_found(monkeypatch, caplog):
    monkeypatch.setattr(ffoptions, "_loaded_library", lambda stem: None)
    ffoptions._lookup.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger=ffoptions.__name__):
            check_option_names({"no_such_option": "1"}, flag="--input-option")
        assert "option names are not checked" in caplog.text
    finally:
        ffoptions._lookup.cache_clear()


def test_pyavs_own_libraries_are_used_when_another_package_bundles_ffmpeg():
    import av
    import cv2  # noqa: F401 (OpenCV's wheel loads an FFmpeg build of its own)

    for stem in ("libavutil", "libavformat", "libavcodec"):
        path = ffoptions._loaded_library(stem)
        bundled = (os.path.join(os.path.dirname(av.__file__), os.pardir, "av.libs"),
                   os.path.join(os.path.dirname(av.__file__), ".dylibs"))
        assert path is not None and os.path.dirname(path) in bundled
