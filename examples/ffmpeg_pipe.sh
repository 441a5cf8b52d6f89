#!/usr/bin/env bash
# The filter inside an FFmpeg pipeline: FFmpeg decodes anything, facedeblur-stream reads and
# writes NUT on stdin/stdout (timestamps and audio travel with the frames), ffplay shows it.
#   examples/ffmpeg_pipe.sh input.mov
set -euo pipefail
ffmpeg -loglevel error -i "$1" -c:v ffv1 -c:a pcm_s16le -f nut - \
  | facedeblur-stream - - -f nut -F nut -c ffv1 -q \
  | ffplay -loglevel error -
