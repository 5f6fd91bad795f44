"""An installed wheel carries the templates, migrations and example store file it needs."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("carebot-*.whl"))


def test_the_wheel_contains_the_shipped_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for locale in ("en", "zh-Hant", "zh-Hans"):
        assert f"bot/_data/templates/{locale}/greeting.html" in names
        assert f"bot/_data/templates/{locale}/labels.yaml" in names
    assert "bot/_data/migrations/env.py" in names
    assert any(n.startswith("bot/_data/migrations/versions/0001_") for n in names)
    assert "bot/_data/store.example.yaml" in names
    assert "bot/sandbox/__init__.py" in names
    assert "scheduler/__init__.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "carebot = bot.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_an_installed_wheel_finds_its_data_and_migrates(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    probe = (
        "from bot.paths import TEMPLATES_DIR, MIGRATIONS_DIR, EXAMPLE_STORE_FILE;"
        "print(TEMPLATES_DIR); print(MIGRATIONS_DIR); print(EXAMPLE_STORE_FILE)"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    found = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(path.startswith(str(target)) for path in found), found
    migrated = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        cwd=tmp_path,
        env=env | {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"},
        capture_output=True,
        text=True,
    )
    assert migrated.returncode == 0, migrated.stderr
