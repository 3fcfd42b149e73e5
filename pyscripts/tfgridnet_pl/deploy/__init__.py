"""Deployment: packed models, the exportable ONNX core, and chunked processing of long recordings."""
