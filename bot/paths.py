"""Where the shipped data lives, in a checkout and in an installed wheel."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def _shipped(name: str) -> Path:
    # A wheel carries the data inside the package (see pyproject's force-include); a checkout
    # keeps it at the top of the tree.
    inside = _PACKAGE / "_data" / name
    return inside if inside.exists() else _CHECKOUT / name


TEMPLATES_DIR = _shipped("templates")
MIGRATIONS_DIR = _shipped("migrations")
EXAMPLE_STORE_FILE = _shipped("store.example.yaml")
