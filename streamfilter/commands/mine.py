"""``facedeblur mine``: cut training clips of sharp, moving faces out of videos.

Writes into OUT one ``.mp4`` per kept segment, a ``<clip>.landmarks.json`` beside each, and
``mining.json`` (per input: kept segments, rejection reasons with counts). ``facedeblur train
--data OUT`` reads the clips directly. Thresholds and how they were chosen:
:class:`streamfilter.mining.MiningConfig`.
"""

from __future__ import annotations

from pathlib import Path

import click
from tqdm import tqdm

from ..mining import MiningConfig, mine_videos
from ..mining.config import PRESETS
from ..mining.scan import open_video
from .options import debug_option, landmarks_option

DEFAULTS = MiningConfig()


def describe(entry: dict) -> str:
    """One line per input: kept segments and frames, then the non-zero rejection counts."""
    frames = ", ".join(f"{reason} {count}" for reason, count in entry["rejected_frames"].items() if count)
    segments = ", ".join(f"{reason} {v['segments']}" for reason, v in entry["rejected_segments"].items() if v["segments"])
    return (
        f"{Path(entry['input']).name}: kept {len(entry['kept'])} segments, {entry['kept_frames']} of {entry['frames']} frames"
        f"; rejected frames: {frames or 'none'}; rejected segments: {segments or 'none'}"
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("videos", nargs=-1, required=True, metavar="VIDEOS...")
@click.argument("out", metavar="OUT")
@landmarks_option
@click.option("--min-seconds", type=float, default=DEFAULTS.min_seconds, show_default=True, help="Shortest kept segment.")
@click.option("--check-every", type=int, default=DEFAULTS.check_every, show_default=True, help="Frames between detector re-checks.")
@click.option("--min-iou", type=float, default=DEFAULTS.min_iou, show_default=True, help="Detector vs tracker box overlap that agrees.")
@click.option("--min-agreement", type=float, default=DEFAULTS.min_agreement, show_default=True, help="Fraction of checks that must agree.")
@click.option("--min-face-size", type=int, default=DEFAULTS.min_face_size, show_default=True, help="Pixels.")
@click.option("--max-refit-error", type=float, default=DEFAULTS.max_refit_error, show_default=True, help="Inter-ocular distances.")
@click.option("--eye-ratio", type=(float, float), default=DEFAULTS.eye_ratio, show_default=True, metavar="LOW HIGH",
              help="Eye distance over face size.")
@click.option("--min-motion", type=float, default=DEFAULTS.min_motion, show_default=True,
              help="Least mean motion of a segment (face sizes/frame).")
@click.option("--max-motion", type=float, default=DEFAULTS.max_motion, show_default=True, help="Most motion of a frame (face sizes/frame).")
@click.option("--min-sharpness", type=float, default=DEFAULTS.min_sharpness, show_default=True, help="Absolute sharpness floor.")
@click.option("--relative-sharpness", type=float, default=DEFAULTS.relative_sharpness, show_default=True,
              help="Fraction of the video's sharpness percentile.")
@click.option("--sharpness-percentile", type=float, default=DEFAULTS.sharpness_percentile, show_default=True)
@click.option("--crf", type=int, default=DEFAULTS.crf, show_default=True, help="libx264 quality of the written clips.")
@click.option("--preset", type=click.Choice(PRESETS), default=DEFAULTS.preset, show_default=True, help="libx264 preset.")
@click.option("-y", "--overwrite", is_flag=True, help="Write into a non-empty OUT, replacing a previous run's clips.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or per-video lines on stderr.")
@debug_option
def mine(videos: tuple[str, ...], out: str, landmarks: str, overwrite: bool, quiet: bool, debug: bool, **thresholds) -> None:
    """Keep the segments of VIDEOS where one sharp face moves, and write them into OUT."""
    config = MiningConfig(**thresholds)
    bars: list[tqdm] = []

    def on_video(path: Path, index: int):
        if quiet:
            return None
        with open_video(path) as container:
            total = container.streams.video[0].frames or None
        bars.append(tqdm(total=total, desc=f"[{index + 1}/{len(videos)}] {path.name}", unit="frame", leave=False, dynamic_ncols=True))
        return lambda done: bars[-1].update(done - bars[-1].n)

    def on_result(entry: dict) -> None:
        if not quiet:
            bars.pop().close()
            click.echo(describe(entry), err=True)

    document = mine_videos([Path(v) for v in videos], Path(out), config=config, backend=landmarks, overwrite=overwrite,
                           on_video=on_video, on_result=on_result)
    if not quiet:
        kept = sum(len(entry["kept"]) for entry in document["inputs"])
        click.echo(f"wrote {kept} clips and {Path(out) / 'mining.json'}", err=True)
