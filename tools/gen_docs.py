"""Regenerate the lab outputs shown in README.md and docs/ from real Envoys.

    python -m tools.gen_docs

A block `<!-- lab:SCENARIO COMMAND ARGS -->` ... `<!-- /lab -->` in README.md or a page under docs/
gets the output of `kubectl meshdebug COMMAND ARGS` run against that lab scenario after
its traffic (offline: the scenario's objects with -f, its Envoys with --admin-url; `path`
and `why-503` also get its logs), drawn by the tool itself, without colour. The tests run
the same commands and compare, so a page never shows output the tool no longer prints.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"<!-- lab:([a-z0-9-]+) ([^>]+?) -->\n(.*?)<!-- /lab -->", re.S)


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(scenario, command, body) of each lab block of a page."""
    return [(m.group(1), m.group(2), m.group(3)) for m in BLOCK.finditer(text)]


def pages() -> list[Path]:
    """The README and every page under docs/ that shows lab output."""
    return sorted(p for p in [ROOT / "README.md", *DOCS.rglob("*.md")]
                  if "<!-- lab:" in p.read_text())


def argv(scenario: Any, mesh: Any, command: str) -> list[str]:
    words = shlex.split(command)
    if words[0] in ("path", "why-503"):
        return [words[0], *scenario.why503_args(mesh)[1:], *words[3:]]
    if words[0] == "errors":  # --logs offline: the client's log as a file
        return [*scenario.errors_args(mesh), *[w for w in words[1:] if w not in ("-A", "--logs")]]
    return [*words, "-f", str(mesh.workdir / "manifests.yaml"), *mesh.admin_url_args()]


def render(scenario: Any, mesh: Any, command: str) -> str:
    """The block's body for a running scenario: the command a user types, then the output."""
    done = subprocess.run([sys.executable, "-m", "kubectl_meshdebug",
                           *argv(scenario, mesh, command)],
                          capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"},
                          timeout=120, cwd=ROOT)
    shown = command if command.split()[0] not in ("path", "why-503") else \
        f"{command.split()[0]} sleep {scenario.service} -n foo"
    return f"```\n$ kubectl meshdebug {shown}\n{done.stdout.rstrip()}\n```\n"


def comparable(text: str, command: str = "") -> str:
    """Loopback addresses and column padding differ from run to run; the rest may not.
    config-dump prints Envoy's document, whose order of resources is Envoy's (a hash map's):
    its lines are compared as a set."""
    text = re.sub(r"127\.\d+\.\d+\.\d+", "127.x.x.x", text)
    text = re.sub(r"10\.96\.\d+\.\d+", "10.96.x.x", text)  # the lab's ClusterIPs
    text = re.sub(r"\[20\d\d-\d\d-\d\dT[0-9:.]+Z\]", "[time]", text)
    lines = [re.sub(r"\s+", " ", line).rstrip().rstrip(",") for line in text.splitlines()]
    return "\n".join(sorted(lines) if command.startswith("config-dump") else lines)


def main() -> None:
    from kubectl_meshdebug.lab.scenarios import SCENARIOS

    wanted: dict[str, list[tuple[Path, str]]] = {}
    for page in pages():
        for scenario, command, _ in blocks(page.read_text()):
            wanted.setdefault(scenario, []).append((page, command))
    for name, uses in wanted.items():
        scenario = SCENARIOS[name]
        mesh = scenario.build()
        with mesh:
            mesh.write_manifests()
            scenario.run_traffic(mesh)
            for page, command in uses:
                body = render(scenario, mesh, command)
                head = f"<!-- lab:{name} {command} -->\n"
                text = page.read_text()
                start = text.index(head) + len(head)
                end = text.index("<!-- /lab -->", start)
                page.write_text(text[:start] + body + text[end:])


if __name__ == "__main__":
    main()
