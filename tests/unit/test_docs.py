"""Every finding id has its docs page, every page belongs to a finding, and the README and
docs name only commands that exist."""

from __future__ import annotations

import re
from pathlib import Path

from kubectl_meshdebug.checks import audit, why503  # noqa: F401  (register every check)
from kubectl_meshdebug.checks.registry import CATALOGUE
from kubectl_meshdebug.cli.main import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
PAGES = {p.stem for p in (ROOT / "docs" / "checks").glob("*.md")}


def emitted_ids() -> set[str]:
    ids = set()
    for path in (ROOT / "kubectl_meshdebug" / "checks").glob("*.py"):
        ids |= set(re.findall(r'Finding\(\s*"([a-z0-9-]+)"', path.read_text()))
    return ids


def test_every_finding_id_is_catalogued_and_documented():
    assert emitted_ids() <= set(CATALOGUE)
    missing = sorted(set(CATALOGUE) - PAGES)
    assert not missing, f"no docs/checks page for {missing}"


def test_no_orphan_check_pages():
    assert PAGES <= set(CATALOGUE)


def test_each_page_says_what_how_and_fix():
    for page in PAGES:
        text = (ROOT / "docs" / "checks" / f"{page}.md").read_text()
        for heading in ("## What it means", "## How it is detected", "## The fix", "```yaml"):
            assert heading in text, (page, heading)


def test_documented_commands_exist():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    used = set()
    for path in docs:
        used |= set(re.findall(r"kubectl(?:-| )meshdebug ([a-z][a-z0-9-]+)", path.read_text()))
    assert used - set(COMMANDS) == set()
