"""facedeblur-stream: a streaming video filter that removes motion blur from faces."""

__version__ = "0.1.0"
