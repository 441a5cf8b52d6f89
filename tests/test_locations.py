"""``io.locations``: masking the secrets of URLs before a location is printed or logged, and which
inputs are live."""

from __future__ import annotations

import logging

import pytest

from streamfilter.commands.stream import StderrFormatter
from streamfilter.io.locations import graph_filters, parse_input, redact


@pytest.mark.parametrize(("text", "shown"), [
    ("rtmp://alice:s3cret@live.example.com/app/cam", "rtmp://alice:***@live.example.com/app/cam"),
    ("http://alice:s3cret@cdn.example.com:8080/clip.mp4", "http://alice:***@cdn.example.com:8080/clip.mp4"),
    ("rtsp://alice:p@ss@cam.local:554/stream1", "rtsp://alice:***@cam.local:554/stream1"),
    ("rtmp://streamkey@live.example.com/app", "rtmp://***@live.example.com/app"),
    ("srt://relay.example.com:9000?mode=caller&passphrase=hunter2hunter2&pbkeylen=16",
     "srt://relay.example.com:9000?mode=caller&passphrase=***&pbkeylen=16"),
    ("https://h.example.com/v.m3u8?key=1&token=abc&access_token=def&password=g&pass=h&secret=i&auth=j&sig=k",
     "https://h.example.com/v.m3u8?key=***&token=***&access_token=***&password=***&pass=***&secret=***&auth=***&sig=***"),
    ("https://s3.example.com/v.mp4?X-Amz-Credential=c&X-Amz-Signature=s&api_key=k#t=10",
     "https://s3.example.com/v.mp4?X-Amz-Credential=***&X-Amz-Signature=***&api_key=***#t=10"),
    ("tcp://0.0.0.0:9000?listen&timeout=5", "tcp://0.0.0.0:9000?listen&timeout=5"),
    ("udp://239.0.0.1:1234?pkt_size=1316", "udp://239.0.0.1:1234?pkt_size=1316"),
    ("clips/a@b.mp4", "clips/a@b.mp4"),
])
def test_redact_masks_passwords_and_secret_query_values_only(text, shown):
    assert redact(text) == shown
    assert redact(shown) == shown


def test_redact_masks_urls_quoted_in_messages():
    message = "cannot open input rtmp://bob:pw@h.example.com/live?passphrase=xyz: [Errno 5] 'http://u:v@h/?token=t'."
    assert redact(message) == ("cannot open input rtmp://bob:***@h.example.com/live?passphrase=***: "
                               "[Errno 5] 'http://u:***@h/?token=***'.")


def test_location_shown_is_redacted():
    location = parse_input("rtmp://alice:s3cret@h.example.com/app?token=abc", input_format=None)
    assert location.url.endswith("token=abc"), "FFmpeg still gets the secrets"
    assert location.shown == "rtmp://alice:***@h.example.com/app?token=***"


def test_log_lines_are_redacted():
    record = logging.LogRecord("streamfilter", logging.INFO, __file__, 1, "input %s: 64x48",
                               ("rtsp://cam:pw@10.0.0.2/s?auth=abc",), None)
    assert StderrFormatter().format(record) == "info: input rtsp://cam:***@10.0.0.2/s?auth=***: 64x48"


@pytest.mark.parametrize(("input_format", "text", "live", "waits"), [
    ("lavfi", "testsrc=size=320x240:rate=30:duration=2", False, False),
    ("lavfi", "testsrc=size=320x240:rate=30,realtime", True, True),
    ("lavfi", "testsrc, realtime@pace=speed=2", True, True),
    ("lavfi", "sine=frequency=440, arealtime [out1]; testsrc [out0]", True, True),
    ("lavfi", "testsrc,drawtext=text=realtime", False, False),
    ("lavfi", "testsrc,drawtext=text='a, realtime'", False, False),
    ("lavfi", r"testsrc,drawtext=text=a\,realtime", False, False),
    ("v4l2", "/dev/video0", True, True),
    (None, "rtmp://live.example.com/app/cam", True, True),
    (None, "-", False, True),
    (None, "clip.mp4", False, False),
])
def test_a_filter_graph_is_live_only_when_paced(input_format, text, live, waits):
    location = parse_input(text, input_format=input_format)
    assert (location.is_live, location.waits) == (live, waits)


def test_graph_filters_skip_labels_arguments_and_instances():
    graph = "[0:v] scale=w=640:h=360 [s]; [s]split=2[a][b]; movie='a,b.mp4',realtime@x"
    assert graph_filters(graph) == ["scale", "split", "movie", "realtime"]
