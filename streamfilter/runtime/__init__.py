"""Network engines implementing the ``Restorer`` protocol (torch, ONNX Runtime)."""
