"""The /stats entry points: plain figures for the summary and a chart picture, in every locale."""

import datetime as dt
import io
from zoneinfo import ZoneInfo

from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.locales import LOCALES
from bot.render import Renderer
from bot.report_chart import HEIGHT, WIDTH, cjk_font_path, stats_chart_png
from bot.reports import stats_summary
from bot.segments import series_days
from bot.store_config import StoreConfig
from tests.test_segments import AS_OF, seed_segment_cases


async def test_stats_summary_has_todays_segments_the_series_and_the_kpis(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await seed_segment_cases(sessions, store_config)
    async with sessions() as session:
        summary = await stats_summary(
            session, store_id, AS_OF, store_config, ZoneInfo("Asia/Taipei")
        )
    # The figures worked by hand in test_segments.
    assert summary.segments == {
        "archived": 7,
        "active": 5,
        "loyal": 2,
        "lost": 4,
        "lost_3m": 6,
        "lost_6m": 5,
        "lost_12m": 2,
    }
    assert [day for day, _ in summary.series] == series_days(AS_OF)
    assert summary.series[-1][1] == summary.segments
    assert summary.month == "2026-06"
    # June: LEX's visit on the 30th is the month's only one, not from an appointment.
    assert summary.kpis["appointment_rate"] == 0.0
    assert summary.kpis["retention_count"] == 5


async def test_the_chart_is_a_png_in_every_locale(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await seed_segment_cases(sessions, store_config)
    async with sessions() as session:
        summary = await stats_summary(
            session, store_id, dt.date(2026, 6, 30), store_config, ZoneInfo("Asia/Taipei")
        )
    renderer = Renderer()

    def english(key: str) -> str:
        return renderer.label("en", f"report_{key}")

    pictures = {}
    for locale in LOCALES:
        png = stats_chart_png(
            summary, lambda key, loc=locale: renderer.label(loc, f"report_{key}"), english
        )
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
        # Something is drawn: far more than one colour.
        assert len(image.convert("RGB").getcolors(maxcolors=100_000) or []) > 10
        pictures[locale] = png
    if cjk_font_path() is None:
        # Without a font that has Chinese glyphs the chart speaks English rather than show boxes.
        assert pictures["zh-Hant"] == pictures["en"]
    else:
        assert pictures["zh-Hant"] != pictures["en"] != pictures["zh-Hans"]
