"""The /stats picture: segments over the last 12 months and this month's KPIs, as a PNG.

Drawn with Pillow: a line chart and a few bars need no plotting library, and Pillow is one wheel
without numpy. Chinese labels need a font with CJK glyphs; the usual system fonts are looked up,
and without one the chart falls back to the English labels rather than show empty boxes.
"""

import io
import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.reports import Labels, StatsSummary

logger = logging.getLogger(__name__)

WIDTH, HEIGHT = 1280, 720
BACKGROUND = (255, 255, 255)
INK = (33, 37, 41)
GRID = (222, 226, 230)
SERIES = (
    ("archived", (134, 142, 150)),
    ("active", (28, 126, 214)),
    ("loyal", (55, 178, 77)),
    ("lost", (240, 62, 62)),
    ("lost_6m", (247, 103, 7)),
)
BARS = (
    "return_rate",
    "appointment_rate",
    "show_rate",
    "no_show_rate",
    "comeback_rate",
    "csat_top2_share",
)
# Fonts with CJK glyphs where Debian/Ubuntu, macOS and Windows put them.
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKtc-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msjh.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
LATIN_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)


@cache
def cjk_font_path() -> Path | None:
    """A font file that can draw Chinese, if the machine has one."""
    for candidate in CJK_FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def _font(size: int, cjk: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    paths = [cjk_font_path()] if cjk else [Path(p) for p in LATIN_FONTS]
    paths.append(cjk_font_path())
    for path in paths:
        if path is not None and path.is_file():
            try:
                return ImageFont.truetype(str(path), size)
            except OSError:
                continue
    return ImageFont.load_default(size)


def stats_chart_png(summary: StatsSummary, labels: Labels, english: Labels) -> bytes:
    """The picture for /stats in the reader's language, or in English without a CJK font."""
    needs_cjk = not all(labels(key).isascii() for key in ("chart_segments", "chart_kpis"))
    if needs_cjk and cjk_font_path() is None:
        logger.warning("no CJK font installed (e.g. fonts-noto-cjk); drawing the chart in English")
        labels, needs_cjk = english, False
    return _draw(summary, labels, needs_cjk)


def _draw(summary: StatsSummary, labels: Labels, cjk: bool) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    title, small, tiny = _font(30, cjk), _font(20, cjk), _font(16, cjk)
    draw.text((40, 24), f"{labels('title')} · {summary.as_of.isoformat()}", font=title, fill=INK)
    _segment_lines(draw, summary, labels, small, tiny, box=(40, 90, 800, 640))
    _kpi_bars(draw, summary, labels, small, box=(850, 90, 1240, 680))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _tick_step(peak: int) -> int:
    """A round step such that four steps reach the peak: 1, 2, 5, 10, 20, 50..."""
    step = 1
    while step * 4 < peak:
        for factor in (2, 2.5, 2):
            step = int(step * factor)
            if step * 4 >= peak:
                break
    return step


def _segment_lines(
    draw: ImageDraw.ImageDraw,
    summary: StatsSummary,
    labels: Labels,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    tiny: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    box: tuple[int, int, int, int],
) -> None:
    left, top, right, bottom = box
    draw.text((left, top), labels("chart_segments"), font=font, fill=INK)
    plot_left, plot_top, plot_bottom = left + 70, top + 40, bottom - 70
    days = [day for day, _ in summary.series]
    step = _tick_step(max([1, *(counts[key] for _, counts in summary.series for key, _ in SERIES)]))
    peak = step * 4
    for tick in range(5):
        y = plot_bottom - (plot_bottom - plot_top) * tick / 4
        draw.line((plot_left, y, right, y), fill=GRID, width=1)
        draw.text((left, y - 9), f"{step * tick:,}", font=tiny, fill=INK)

    def x_of(index: int) -> float:
        if len(days) == 1:
            return (plot_left + right) / 2
        return plot_left + (right - plot_left) * index / (len(days) - 1)

    for index, day in enumerate(days):
        draw.text((x_of(index) - 20, plot_bottom + 8), day.strftime("%y-%m"), font=tiny, fill=INK)
    for key, colour in SERIES:
        points = [
            (x_of(i), plot_bottom - (plot_bottom - plot_top) * counts[key] / peak)
            for i, (_, counts) in enumerate(summary.series)
        ]
        if len(points) > 1:
            # Archived is drawn wide underneath: it equals "active" whenever nobody has lapsed.
            draw.line(points, fill=colour, width=7 if key == "archived" else 3)
        for x, y in points:
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=colour)
    legend_x, legend_y = plot_left, bottom - 30
    for key, colour in SERIES:
        text = f"{labels(f'segment_{key}')} {summary.segments[key]:,}"
        width = 30 + int(draw.textlength(text, font=tiny))
        if legend_x + width > right:
            legend_x, legend_y = plot_left, legend_y + 26
        draw.rectangle((legend_x, legend_y + 5, legend_x + 14, legend_y + 19), fill=colour)
        draw.text((legend_x + 20, legend_y), text, font=tiny, fill=INK)
        legend_x += width


def _kpi_bars(
    draw: ImageDraw.ImageDraw,
    summary: StatsSummary,
    labels: Labels,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    box: tuple[int, int, int, int],
) -> None:
    left, top, right, _ = box
    draw.text((left, top), f"{labels('chart_kpis')} ({summary.month})", font=font, fill=INK)
    y = top + 50
    for key in BARS:
        value = summary.kpis[key]
        draw.text((left, y), labels(f"kpi_{key}"), font=font, fill=INK)
        bar_top = y + 30
        draw.rectangle((left, bar_top, right - 80, bar_top + 16), fill=GRID)
        if isinstance(value, float):
            width = (right - 80 - left) * max(0.0, min(1.0, value))
            draw.rectangle((left, bar_top, left + width, bar_top + 16), fill=(28, 126, 214))
        shown = "-" if value is None else f"{float(value) * 100:.0f}%"
        draw.text((right - 70, bar_top - 4), shown, font=font, fill=INK)
        y += 70
    for key, shown in _plain_figures(summary):
        draw.text((left, y), f"{labels(f'kpi_{key}')}: {shown}", font=font, fill=INK)
        y += 34


def _plain_figures(summary: StatsSummary) -> Sequence[tuple[str, str]]:
    mean = summary.kpis["csat_mean"]
    return (
        ("retention_count", f"{summary.kpis['retention_count']:,}"),
        ("csat_mean", "-" if mean is None else f"{float(mean):.2f}"),
    )
