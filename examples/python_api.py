"""The pipeline from Python with your own processor: here one that darkens every frame's
left half, returning an RGB array (the sink converts it back with the input's colours).

    python examples/python_api.py in.mp4 out.mp4
"""

import sys

import numpy as np

from streamfilter.frames import FrameWindow
from streamfilter.pipeline import Pipeline
from streamfilter.processor import Passthrough


class DarkenLeftHalf(Passthrough):
    """Sees frames t-2..t+2 (``window.slots``), returns frame t."""

    def process(self, window: FrameWindow) -> np.ndarray:
        rgb = window.center.rgb().copy()
        rgb[:, : rgb.shape[1] // 2] //= 2
        return rgb


with Pipeline.open(sys.argv[1], sys.argv[2], processor=DarkenLeftHalf(), overwrite=True) as pipeline:
    stats = pipeline.run()
print(stats.summary())
print(stats.as_dict()["latency"]["process"])
