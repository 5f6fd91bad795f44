"""Carebot: customer care on Telegram for car dealerships."""

import os

# python-telegram-bot 22 returns durations (retry_after, media lengths) as timedelta when this is
# set and warns on the int form otherwise; timedelta is its announced future default.
os.environ.setdefault("PTB_TIMEDELTA", "true")
