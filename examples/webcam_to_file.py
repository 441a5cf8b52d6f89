"""Record a webcam through the filter into a file (Linux v4l2; use -f avfoundation on macOS,
-f dshow on Windows). Needs a PyAV whose FFmpeg was built with that capture device.

    python examples/webcam_to_file.py /dev/video0 webcam.mp4
"""

import sys

from streamfilter.factory import ProcessorOptions, make_processor
from streamfilter.pipeline import Pipeline

device, output = sys.argv[1], sys.argv[2]
processor = make_processor(ProcessorOptions(model="none"))
with Pipeline.open(device, output, processor=processor, input_format="v4l2",
                   input_options={"framerate": "30", "video_size": "1280x720"}, overwrite=True) as pipeline:
    try:
        stats = pipeline.run()
    except KeyboardInterrupt:
        pipeline.interrupt()
        stats = pipeline.run()
print(stats.summary())
