#!/usr/bin/env bash
# Relay a file to an RTMP server through the filter (flv is chosen for rtmp:// URLs).
# facedeblur-stream reads as fast as it can; `ffmpeg -re` paces the file at its native frame
# rate, as a live server expects.
#   examples/file_to_rtmp.sh talk.mp4 rtmp://localhost/live/key
set -euo pipefail
ffmpeg -loglevel error -re -i "$1" -c copy -f mpegts - \
  | facedeblur-stream - "$2" -f mpegts --preset veryfast --bitrate 3M
