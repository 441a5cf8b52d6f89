"""Tracker logic with a scripted backend: detection cadence, IoU ids, limits, lost tracks,
late frames; and id stability on a real clip."""

from __future__ import annotations

import av
import numpy as np
import pytest

from streamfilter.errors import UsageError
from streamfilter.faces.backend import make_backend
from streamfilter.faces.tracker import FaceTracker, TrackerConfig, iou, match_by_iou
from streamfilter.faces.types import Detection, Fit

TEMPLATE = np.random.default_rng(7).uniform(0.0, 1.0, size=(68, 2)).astype(np.float32)
TEMPLATE[0], TEMPLATE[1] = (0.0, 0.0), (1.0, 1.0)


class ScriptedBackend:
    """Faces are whatever ``self.faces`` holds (``[x0, y0, x1, y1]`` boxes); fits lay a fixed
    68-point template over the true face that overlaps the asked box most."""

    name = "scripted"
    lost_score = None

    def __init__(self) -> None:
        self.faces: list[list[float]] = []
        self.detect_calls = 0

    def detect(self, rgb):
        self.detect_calls += 1
        return [Detection(np.array(f, np.float32), 1.0) for f in self.faces]

    def fit(self, rgb, boxes):
        fits = []
        for box in boxes:
            overlaps = [iou(np.array(f, np.float32), box) for f in self.faces]
            face = np.array(self.faces[int(np.argmax(overlaps))] if overlaps and max(overlaps) > 0 else box, np.float32)
            fits.append(Fit(face[:2] + TEMPLATE * (face[2:] - face[:2]), None))
        return fits

    def close(self) -> None:
        return None


FRAME = np.zeros((240, 320, 3), np.uint8)


def run(tracker, backend, script):
    out = []
    for i, faces in enumerate(script):
        backend.faces = faces
        out.append(tracker.update(FRAME, i / 25))
    return out


def test_ids_stable_while_faces_move_and_cadence():
    backend = ScriptedBackend()
    tracker = FaceTracker(backend, config=TrackerConfig(detect_every=5))
    script = [[[10 + 2 * i, 20, 90 + 2 * i, 100], [200 - i, 50, 280 - i, 130]] for i in range(20)]
    frames = run(tracker, backend, script)
    assert backend.detect_calls == 4
    for i, tracks in enumerate(frames):
        assert [t.track_id for t in tracks] == [0, 1]
        np.testing.assert_allclose(tracks[0].points.min(axis=0), [10 + 2 * i, 20], atol=1e-4)
        assert tracks[0].source == ("detected" if i % 5 == 0 else "tracked")


def test_new_face_gets_new_id_and_max_faces_prefers_existing_tracks():
    backend = ScriptedBackend()
    tracker = FaceTracker(backend, config=TrackerConfig(detect_every=1, max_faces=2))
    small, big, other = [10, 10, 60, 60], [100, 100, 220, 220], [250, 10, 310, 70]
    frames = run(tracker, backend, [[small], [small, big], [small, big, other]])
    assert [t.track_id for t in frames[1]] == [0, 1]
    assert [t.track_id for t in frames[2]] == [0, 1], "the third face is over max_faces"


def test_min_face_size_filters_detections():
    backend = make_backend("dlib", min_face_size=500)
    frame = np.zeros((100, 100, 3), np.uint8)
    assert backend.detect(frame) == []
    with pytest.raises(UsageError, match="min_face_size"):
        TrackerConfig(min_face_size=0)


def test_lost_track_is_redetected_in_the_same_frame_and_dropped_when_unmatched():
    backend = ScriptedBackend()
    tracker = FaceTracker(backend, config=TrackerConfig(detect_every=100, max_missed=0))
    face = [50, 50, 130, 130]
    jumped = [50, 50, 250, 250]
    frames = run(tracker, backend, [[face], [face], [jumped], [jumped]])
    assert backend.detect_calls == 2, "first frame, then at once when the fit looks lost"
    assert [t.track_id for t in frames[2]] == [1], "a face growing 2.5x in one frame is not the same fit"
    assert frames[2][0].source == "detected"
    assert [t.track_id for t in frames[3]] == [1] and frames[3][0].source == "tracked"


def test_track_drifting_from_its_detected_size_is_redetected_and_keeps_its_id():
    """Each frame grows 1.2x (within max_scale_step) but the third is 1.73x the detected size:
    the detector runs again and its box, overlapping the last good fit, revives the track."""
    backend = ScriptedBackend()
    tracker = FaceTracker(backend, config=TrackerConfig(detect_every=100, max_drift=1.5))
    script = [[[50, 50, 50 + side, 50 + side]] for side in (80, 96, 115, 138)]
    frames = run(tracker, backend, script)
    assert backend.detect_calls == 2
    assert [[t.track_id for t in tracks] for tracks in frames] == [[0]] * 4
    assert [tracks[0].source for tracks in frames] == ["detected", "tracked", "tracked", "detected"]


def test_max_drift_must_exceed_one():
    with pytest.raises(UsageError, match="max_drift"):
        TrackerConfig(max_drift=1.0)


def test_missed_detections_keep_track_for_max_missed_rounds(monkeypatch):
    backend = ScriptedBackend()
    tracker = FaceTracker(backend, config=TrackerConfig(detect_every=1, max_missed=1))
    backend.faces = [[50, 50, 130, 130]]
    assert [t.track_id for t in tracker.update(FRAME, 0.0)] == [0]
    monkeypatch.setattr(backend, "detect", lambda rgb: [])
    assert [t.track_id for t in tracker.update(FRAME, 0.04)] == [0], "one missed round is tolerated"
    assert tracker.update(FRAME, 0.08) == [], "two are not"


def test_predict_reuses_previous_tracks_without_backend_calls():
    backend = ScriptedBackend()
    tracker = FaceTracker(backend)
    tracks = run(tracker, backend, [[[10, 10, 90, 90]]])[0]
    calls = backend.detect_calls
    late = tracker.predict()
    assert backend.detect_calls == calls
    assert [t.source for t in late] == ["predicted"]
    np.testing.assert_array_equal(late[0].points, tracks[0].points)
    assert late[0].crop_box == tracks[0].crop_box


def test_match_by_iou_is_one_to_one():
    a = np.array([0, 0, 10, 10], np.float32)
    b = np.array([1, 0, 11, 10], np.float32)
    far = np.array([50, 50, 60, 60], np.float32)
    assert match_by_iou([a, b], [b, far], 0.3) == [(1, 0)]


@pytest.mark.slow
def test_track_ids_stable_on_real_clip(shared_data):
    """First 60 frames of a validation clip with one face: one track, one id, every frame."""
    tracker = FaceTracker(make_backend("dlib"))
    ids = []
    with av.open(str(shared_data / "clips" / "val" / "videoretalking_5.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == 60:
                break
            ids.append([t.track_id for t in tracker.update(frame.to_ndarray(format="rgb24"), float(frame.time))])
    assert len(ids) == 60
    assert all(frame_ids == [0] for frame_ids in ids)
