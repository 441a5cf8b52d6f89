"""``FaceProcessor``: the face path as a pipeline ``Processor`` around any ``Restorer``.

``analyze(slot)`` runs the face tracker on the slot's frame and stores the tracks in
``slot.faces``; it runs in the pipeline's analysis thread, concurrently with ``process`` on
earlier windows (the dlib detector, the landmark cascade and the numba heatmap kernel
release the GIL; see :mod:`.dlib_backend`). ``late=True`` reuses the previous frame's tracks without running a
model.

``process(window)`` builds, for every track of the centre frame, a ``FaceWindow``: the crops
of all window frames cut with that track's crop box at the centre frame, and heatmaps of the
track's points in each frame. Where the track is absent from a neighbour frame (it started
or ended inside the window), that frame's heatmaps use the points of the nearest window frame
that has the track (ties go to the earlier frame); the crop is always the frame's own pixels.
Tracking, crops and paste-back work on the frame turned upright (a phone's portrait video is
stored on its side; see :mod:`..orientation`), and the pasted change is turned back into the
stored frame.
With a ``BlurGate``, only the faces whose centre crop it finds blurred go to the restorer; the
others keep their decoded pixels. Each face's path is recorded in the centre slot's
``face_paths``: ``gate.RESTORED``, ``gate.SHARP``, ``gate.LATE`` (a live frame whose
deadline the restorer would miss, judged by its recent call times, keeps its faces unrestored
rather than fall behind), or ``gate.NON_FINITE`` (the restored crop holds NaN or infinities:
the face keeps its decoded pixels).
Crops are cached on their slot under their key ``(frame index, track id, crop box, index of
the frame the points come from)``, so the 2r+1 windows sharing a frame cut it once while the
crop box stays put; a frame's heatmaps are rendered (and kept with its crop) only when the
restorer first reads them: a caching restorer reads about one frame's per window, the blur
gate and the identity none. All faces of a frame go to the restorer in one call; its
centre crops are pasted back as a change (:func:`.paste.pasted_change`), added to a copy of
the decoded frame in its own planar YUV samples (:func:`..io.planes.with_change`), so that
every sample the change does not touch stays as decoded (other pixel formats: the whole frame
as RGB). A frame whose faces the restorer left unchanged is the decoded frame itself.
``windows_in_flight`` (the restorer's ``concurrency``) lets the pipeline run ``process`` on that
many consecutive windows at once; the slot caches tolerate it (two windows cutting the same
frame at the same moment both cut it) and the restorer's own cache is locked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Sequence

import av
import numpy as np

from ..errors import UsageError
from ..frames import FrameSlot, FrameWindow
from ..io.planes import region_align, with_change, writes_regions
from ..restorer import FaceWindow, Restorer
from .crop import crop_face
from .gate import LATE, NON_FINITE, RESTORED, BlurGate
from .heatmaps import DEFAULT_SIGMA, render_heatmaps, rescale_points
from .paste import DEFAULT_FEATHER, pasted_change
from .tracker import FaceTracker, TrackerConfig
from .types import NUM_POINTS, CropBox, FaceTrack, LandmarkBackend

CACHE_PREFIX = "faces"
RESTORE_TIME_WEIGHT = 0.2
"""Weight of the newest call in the running estimate of the restorer's duration."""


def slot_time(slot: FrameSlot, fallback_rate: float = 30.0) -> float:
    """The slot's presentation time in seconds (its index over ``fallback_rate`` without pts)."""
    if slot.pts is None or slot.time_base is None:
        return slot.index / fallback_rate
    return float(slot.pts * slot.time_base)


def nearest_with_track(window: FrameWindow, track_id: int, position: int) -> tuple[FrameSlot, FaceTrack]:
    """The window slot nearest to ``position`` whose faces include ``track_id`` (earlier on ties)."""
    order = sorted(range(len(window.slots)), key=lambda i: (abs(i - position), i))
    for i in order:
        for face in window.slots[i].faces or ():
            if face.track_id == track_id:
                return window.slots[i], face
    raise ValueError(f"track {track_id} is in no slot of the window")


class FaceProcessor:
    """Full face path: track, crop, render heatmaps, restore, paste back."""

    needs_analysis = True

    def __init__(
        self,
        restorer: Restorer,
        *,
        backend: LandmarkBackend,
        tracker: TrackerConfig | None = None,
        sigma: float = DEFAULT_SIGMA,
        feather: float = DEFAULT_FEATHER,
        gate: BlurGate | None = None,
        windows_in_flight: int = 1,
    ):
        for name, size in (("crop_size", restorer.crop_size), ("heatmap_size", restorer.heatmap_size)):
            if size < 1:
                raise UsageError(f"restorer {name} must be >= 1, got {size}")
        if restorer.radius < 0:
            raise UsageError(f"restorer radius must be >= 0, got {restorer.radius}")
        if not sigma > 0:
            raise UsageError(f"heatmap sigma must be > 0, got {sigma}")
        if windows_in_flight < 1:
            raise UsageError(f"windows_in_flight must be >= 1, got {windows_in_flight}")
        self.windows_in_flight = windows_in_flight
        """How many windows the pipeline may hand to ``process`` at once (see ``window.WindowStage``)."""
        self.restorer = restorer
        self.radius = restorer.radius
        self.sigma = sigma
        self.feather = feather
        self.gate = gate or BlurGate(0.0)
        self.restore_seconds = 0.0
        """Running estimate (exponential average) of one restorer call's duration."""
        self.tracker = FaceTracker(backend, config=tracker)
        self._lock = threading.Lock()

    @property
    def slot_cache_bytes(self) -> int:
        """Bytes this processor caches on a slot: one cut (crop + heatmaps) for each face it may
        follow (a track's crop box stays put, so the windows sharing the frame reuse its cut)."""
        crop, heatmap = self.restorer.crop_size, self.restorer.heatmap_size
        return self.tracker.config.max_faces * (crop * crop * 3 + NUM_POINTS * heatmap * heatmap * 4)

    def analyze(self, slot: FrameSlot, *, late: bool = False) -> None:
        if late:
            slot.faces = self.tracker.predict()
        else:
            slot.faces = self.tracker.update(slot.upright(), slot_time(slot))

    def process(self, window: FrameWindow) -> av.VideoFrame | np.ndarray:
        if len(window.slots) != 2 * self.radius + 1:
            raise ValueError(f"window of {len(window.slots)} frames for a processor of radius {self.radius}")
        centre = window.center
        if not centre.faces:
            return centre.frame
        paths = [self.gate.path(self._centre_crop(centre, track)) for track in centre.faces]
        if centre.deadline is not None and time.perf_counter() + self.restore_seconds > centre.deadline:
            paths = [LATE if path == RESTORED else path for path in paths]
        centre.face_paths = tuple(paths)
        tracks = [track for track, path in zip(centre.faces, paths) if path == RESTORED]
        if not tracks:
            return centre.frame
        face_windows = [self._face_window(window, track) for track in tracks]
        started = time.perf_counter()
        restored = self.restorer.restore(face_windows)
        with self._lock:
            self.restore_seconds += RESTORE_TIME_WEIGHT * (time.perf_counter() - started - self.restore_seconds)
        finite = np.isfinite(restored).all(axis=(1, 2, 3))
        if not finite.all():
            flags = iter(finite)
            centre.face_paths = tuple(path if path != RESTORED or next(flags) else NON_FINITE for path in paths)
            tracks = [track for track, ok in zip(tracks, finite) if ok]
            face_windows = [face for face, ok in zip(face_windows, finite) if ok]
            restored = restored[finite]
            if not tracks:
                return centre.frame
        if restored.dtype != np.uint8:
            restored = np.clip(np.rint(restored), 0, 255).astype(np.uint8)
        boxes = [track.crop_box for track in tracks]
        in_planes = writes_regions(centre.frame)
        upright = centre.upright()
        change = pasted_change(upright.shape[:2], boxes, np.stack([fw.center for fw in face_windows]), restored,
                               feather=self.feather, align=region_align(centre.frame) if in_planes else 1)
        if change is None:
            return centre.frame
        change = change.stored(centre.turns, centre.width, centre.height)
        if in_planes:
            return with_change(centre.frame, change.x0, change.y0, change.values)
        return change.onto(centre.rgb())

    def _centre_crop(self, centre: FrameSlot, track: FaceTrack) -> np.ndarray:
        """(S, S, 3) crop of ``track`` in its own frame (the cut its windows reuse)."""
        return self._cut(centre, track.crop_box, track.track_id, centre.index, track.points)[0].crop

    def _face_window(self, window: FrameWindow, track: FaceTrack) -> FaceWindow:
        cuts, keys = [], []
        for position, slot in enumerate(window.slots):
            source, face = nearest_with_track(window, track.track_id, position)
            cut, key = self._cut(slot, track.crop_box, track.track_id, source.index, face.points)
            cuts.append(cut)
            keys.append(key)
        return FaceWindow(crops=np.stack([cut.crop for cut in cuts]), heatmaps=CutHeatmaps(cuts), keys=tuple(keys))

    def _cut(self, slot: FrameSlot, box: CropBox, track_id: int, points_index: int, points: np.ndarray) -> tuple[FaceCut, Hashable]:
        """One frame's crop and (lazily rendered) heatmaps, cached on the slot by key."""
        key = (slot.index, track_id, box, points_index)
        cached = slot.cache.get((CACHE_PREFIX, key))
        if cached is None:
            size, hsize = self.restorer.crop_size, self.restorer.heatmap_size
            crop = crop_face(slot.upright(), box, size)
            cached = FaceCut(crop, rescale_points(box.to_crop(points, size), size, hsize), hsize, self.sigma)
            slot.cache[(CACHE_PREFIX, key)] = cached
        return cached, key

    def close(self) -> None:
        self.tracker.backend.close()
        self.restorer.close()


class FaceCut:
    """A cached crop (S, S, 3) uint8 and its heatmaps (68, H, H) float32, rendered from the
    points (68, 2) in heatmap pixels when first asked for (the gate needs only the crop)."""

    __slots__ = ("crop", "points", "size", "sigma", "_heatmap")

    def __init__(self, crop: np.ndarray, points: np.ndarray, size: int, sigma: float):
        self.crop = crop
        self.points = points
        self.size = size
        self.sigma = sigma
        self._heatmap: np.ndarray | None = None

    def heatmap(self) -> np.ndarray:
        if self._heatmap is None:
            self._heatmap = render_heatmaps(self.points, self.size, sigma=self.sigma)
        return self._heatmap

    @property
    def nbytes(self) -> int:
        return self.crop.nbytes + (0 if self._heatmap is None else self._heatmap.nbytes)


class CutHeatmaps(Sequence):
    """A window's heatmaps as a sequence of T (68, H, H) arrays, each rendered on first access."""

    def __init__(self, cuts: Sequence[FaceCut]):
        self._cuts = tuple(cuts)

    def __len__(self) -> int:
        return len(self._cuts)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [cut.heatmap() for cut in self._cuts[index]]
        return self._cuts[index].heatmap()
