"""The store file's care section: defaults, overrides and the ways owners write times."""

import datetime as dt
from pathlib import Path

import pytest
import yaml

from bot.errors import SetupError
from bot.paths import EXAMPLE_STORE_FILE
from bot.store_config import load_store_config


def store_file(tmp_path: Path, care: dict[str, object]) -> Path:
    data = yaml.safe_load(EXAMPLE_STORE_FILE.read_text(encoding="utf-8"))
    data["care"] = care
    path = tmp_path / "store.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_store_file_documents_the_care_defaults() -> None:
    care = load_store_config(None).care
    assert care.maintenance.days == [-14, 0, 14]
    assert care.insurance.days == [-30, -7]
    assert care.new_car.steps == {"thanks": 1, "checkin": 30, "first_service": 150}
    assert care.appointment_reminders.day_before_at == dt.time(18, 0)
    assert care.survey.days_after == 3
    assert care.delivery.messages_per_second <= 30


def test_an_unquoted_yaml_time_is_read_as_a_time_of_day(tmp_path: Path) -> None:
    # YAML 1.1 reads 18:30 as the number 1110 (base 60); the store file means half past six.
    path = tmp_path / "store.yaml"
    text = EXAMPLE_STORE_FILE.read_text(encoding="utf-8")
    path.write_text(text.replace('day_before_at: "18:00"', "day_before_at: 18:30", 1), "utf-8")
    assert load_store_config(path).care.appointment_reminders.day_before_at == dt.time(18, 30)


def test_per_brand_lead_times_are_checked(tmp_path: Path) -> None:
    ok = load_store_config(
        store_file(tmp_path, {"maintenance": {"days": [-7], "brands": {"Audi": [-21, 0]}}})
    )
    assert ok.care.maintenance.brands == {"Audi": [-21, 0]}
    with pytest.raises(SetupError, match=r"care\.maintenance\.brands"):
        load_store_config(
            store_file(tmp_path, {"maintenance": {"days": [-7], "brands": {"Audi": [-400]}}})
        )
