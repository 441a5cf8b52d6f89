"""Plot bench/results/realtime.json as an SVG (no plotting library needed).

    python bench/plot_realtime.py [--results PATH] [--out PATH]

Left: frames per second of each measured variant per input (bars), the ratio to the plain
transcode of the same input above each bar, and the issue's targets (25 fps at 720p, 15 fps at
1080p) as dashed lines. Right: mean latency per frame of the pipeline stages (analyze,
process, encode) of the model runs, stacked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "realtime.json"
VARIANTS = ("plain", "none", "default", "every_face")
LABELS = {"plain": "plain transcode", "none": "--model none", "default": "default", "every_face": "--blur-gate 0"}
COLOURS = {"plain": "#9e9e9e", "none": "#64b5f6", "default": "#1e88e5", "every_face": "#e53935"}
STAGES = ("analyze", "process", "encode")
STAGE_COLOURS = {"analyze": "#8e24aa", "process": "#fb8c00", "encode": "#43a047"}
TARGETS = (("720p", 25.0), ("1080p", 15.0))


class Svg:
    """Minimal SVG writer: rectangles, lines and text in user units (pixels)."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.items: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, fill: str) -> None:
        self.items.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}"/>')

    def line(self, x0: float, y0: float, x1: float, y1: float, colour: str = "#000", dash: str = "") -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.items.append(f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{colour}"{extra}/>')

    def text(self, x: float, y: float, value: str, *, size: int = 11, anchor: str = "middle", colour: str = "#000") -> None:
        self.items.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                          f'fill="{colour}" font-family="sans-serif">{escape(value)}</text>')

    def render(self) -> str:
        body = "\n".join(self.items)
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
                f'viewBox="0 0 {self.width} {self.height}">\n<rect width="100%" height="100%" fill="#fff"/>\n{body}\n</svg>\n')


def nice_scale(value: float) -> tuple[float, float]:
    """(top, step): a round axis maximum at or above ``value`` and its tick step (5-8 ticks)."""
    magnitude = 10 ** len(str(int(max(value, 1)))) / 100
    for factor in (1, 2, 2.5, 5, 10, 20, 25, 50):
        step = factor * magnitude
        if value / step <= 8:
            return step * -(-value // step), step
    return value, value / 5


def axis(svg: Svg, x0: float, y0: float, width: float, height: float, scale: tuple[float, float], unit: str) -> None:
    """Left axis from 0 to ``scale``'s top with a gridline per step; (x0, y0) is the plot's
    bottom-left corner."""
    top, step = scale
    svg.line(x0, y0, x0 + width, y0)
    svg.line(x0, y0, x0, y0 - height)
    for k in range(round(top / step) + 1):
        y = y0 - height * k * step / top
        if k:
            svg.line(x0, y, x0 + width, y, "#e0e0e0")
        svg.text(x0 - 4, y + 4, f"{k * step:g}", anchor="end")
    svg.text(x0 - 36, y0 - height / 2, unit, anchor="middle")


def fps_panel(svg: Svg, rows: dict, x0: float, y0: float, width: float, height: float) -> None:
    scale = nice_scale(max(fps for row in rows.values() for fps in row["fps"].values()) * 1.1)
    axis(svg, x0, y0, width, height, scale, "fps")
    top = scale[0]
    group = width / len(rows)
    bar = group / (len(VARIANTS) + 1.5)
    for g, (name, row) in enumerate(rows.items()):
        gx = x0 + g * group + bar * 0.75
        for v, variant in enumerate(VARIANTS):
            if variant not in row["fps"]:
                continue
            fps = row["fps"][variant]
            h = height * fps / top
            svg.rect(gx + v * bar, y0 - h, bar * 0.9, h, COLOURS[variant])
            label = f"{fps:.0f}" if variant == "plain" else f"{row['ratio_to_plain'][variant]:.2f}x"
            svg.text(gx + (v + 0.45) * bar, y0 - h - 3, label, size=9)
        svg.text(x0 + (g + 0.5) * group, y0 + 15, name.replace("_", " "))
        for resolution, target in TARGETS:
            if name.startswith(resolution):
                y = y0 - height * target / top
                svg.line(x0 + g * group + 2, y, x0 + (g + 1) * group - 2, y, "#000", "4,3")
    svg.text(x0 + width / 2, y0 - height - 10, "frames per second (ratio to the plain transcode); dashed: target", size=12)
    for v, variant in enumerate(VARIANTS):
        lx = x0 + v * width / len(VARIANTS)
        svg.rect(lx, y0 + 26, 10, 10, COLOURS[variant])
        svg.text(lx + 14, y0 + 35, LABELS[variant], anchor="start")


def latency_panel(svg: Svg, rows: dict, x0: float, y0: float, width: float, height: float) -> None:
    runs = [(f"{name.replace('_', ' ')}\n{LABELS[variant]}", row["latency_ms"][variant])
            for name, row in rows.items() for variant in ("default", "every_face") if variant in row["latency_ms"]]
    scale = nice_scale(max(sum(lat[s]["mean_ms"] for s in STAGES) for _, lat in runs) * 1.1)
    axis(svg, x0, y0, width, height, scale, "ms")
    top = scale[0]
    slot = width / len(runs)
    for i, (label, latency) in enumerate(runs):
        y = y0
        for stage in STAGES:
            h = height * latency[stage]["mean_ms"] / top
            svg.rect(x0 + i * slot + slot * 0.2, y - h, slot * 0.6, h, STAGE_COLOURS[stage])
            y -= h
        for k, part in enumerate(label.split("\n")):
            svg.text(x0 + (i + 0.5) * slot, y0 + 13 + 11 * k, part, size=9)
    svg.text(x0 + width / 2, y0 - height - 10, "mean latency per frame of each stage (threads overlap)", size=12)
    for k, stage in enumerate(STAGES):
        lx = x0 + k * width / len(STAGES)
        svg.rect(lx, y0 + 30, 10, 10, STAGE_COLOURS[stage])
        svg.text(lx + 14, y0 + 39, stage, anchor="start")


def plot(result: dict) -> str:
    rows = result["results"]
    svg = Svg(1100, 380)
    fps_panel(svg, rows, 60, 300, 480, 250)
    latency_panel(svg, rows, 640, 300, 440, 250)
    machine = result.get("machine", {})
    svg.text(550, 370, f"{result.get('clip', '')}; {machine.get('cpu_count', '?')} CPUs; "
                       f"{result['encoder']['codec']} {result['encoder']['preset']} crf {result['encoder']['crf']}", size=10)
    return svg.render()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=RESULTS.with_suffix(".svg"))
    args = parser.parse_args()
    args.out.write_text(plot(json.loads(args.results.read_text())))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
