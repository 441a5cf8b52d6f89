"""``facedeblur eval``: synthetic blur on sharp face clips, the full pipeline per model, and
face-region / whole-frame quality against the sharp clip (see ``runner.py``)."""
