"""Every finding id has its docs page, every page belongs to a finding, and the README and
docs name only commands that exist."""

from __future__ import annotations

import re
from pathlib import Path

from kubectl_meshdebug.checks.registry import catalogue
from kubectl_meshdebug.cli.main import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
PAGES = {p.stem for p in (ROOT / "docs" / "checks").glob("*.md")}
CATALOGUE = catalogue()


def test_every_finding_type_is_documented():
    missing = sorted(set(CATALOGUE) - PAGES)
    assert not missing, f"no docs/checks page for {missing}"
    for ftype in CATALOGUE.values():
        assert ftype.docs == f"docs/checks/{ftype.id}.md"


def test_no_orphan_check_pages():
    assert PAGES <= set(CATALOGUE), sorted(PAGES - set(CATALOGUE))


def test_each_page_carries_its_title_and_severity():
    for ftype in CATALOGUE.values():
        text = (ROOT / ftype.docs).read_text()
        assert text.splitlines()[0] == f"# `{ftype.id}`: {ftype.title}", ftype.id
        assert f"Severity: {ftype.severity}" in text, ftype.id


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


def documented_command_lines() -> list[tuple[str, str]]:
    """Every `kubectl meshdebug ...` line in a code block of the README and docs."""
    out = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        in_code = False
        pending = ""
        for line in path.read_text().splitlines():
            if line.strip().startswith("```"):
                in_code = not in_code
                continue
            if not in_code:
                continue
            text = pending + line.strip().removeprefix("$ ")
            if text.endswith("\\"):
                pending = text[:-1] + " "
                continue
            pending = ""
            if text.startswith(("kubectl meshdebug ", "kubectl-meshdebug ")):
                out.append((path.name, text))
    return out


def test_every_documented_command_line_parses():
    import shlex

    import click

    from kubectl_meshdebug.cli.main import cli

    lines = documented_command_lines()
    assert len(lines) >= 30
    for source, text in lines:
        for stop in (" | ", " > ", " # ", " && ", "   #"):
            text = text.split(stop)[0]
        args = shlex.split(text)[2:] if text.startswith("kubectl meshdebug") else \
            shlex.split(text)[1:]
        if "[" in text:  # a synopsis, not a command line
            continue
        name, rest = args[0], args[1:]
        cmd = cli.get_command(click.Context(cli), name)
        assert cmd is not None, f"{source}: {text}: no command {name!r}"
        parent = click.Context(cli, info_name="kubectl meshdebug")
        try:
            cmd.make_context(name, list(rest), parent=parent)
        except click.UsageError as exc:
            raise AssertionError(f"{source}: {text}: {exc}") from exc


def test_demo_page_names_every_scenario():
    from kubectl_meshdebug.lab.scenarios import SCENARIOS

    text = " ".join((ROOT / "docs" / "commands" / "demo.md").read_text().split())
    assert [n for n in SCENARIOS if n not in text] == []
