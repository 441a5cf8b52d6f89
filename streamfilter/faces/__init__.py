"""The face side of the pipeline: detection, tracking, landmarks, crops, heatmaps, paste-back.

``FaceProcessor`` (in :mod:`.processor`) ties them together behind the pipeline's
``Processor`` protocol around any ``Restorer``.
"""
