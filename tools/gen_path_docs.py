"""Regenerate the lab pictures in docs/commands/path.md from real Envoys.

    python -m tools.gen_path_docs

Each `<!-- lab:SCENARIO -->` block gets the `path` picture of that lab scenario after its
traffic, drawn by the tool itself (no colour), so the page never shows a hand-made path.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "commands" / "path.md"
BLOCK = re.compile(r"<!-- lab:([a-z0-9-]+) -->\n.*?<!-- /lab -->", re.S)


def path_args(scenario: object, mesh: object) -> list[str]:
    args = scenario.why503_args(mesh)  # type: ignore[attr-defined]
    return ["path", *args[1:]]


def picture(scenario_name: str) -> str:
    from kubectl_meshdebug.lab.scenarios import SCENARIOS

    scenario = SCENARIOS[scenario_name]
    mesh = scenario.build()
    with mesh:
        mesh.write_manifests()
        scenario.run_traffic(mesh)
        return render(scenario, mesh)


def render(scenario: object, mesh: object) -> str:
    """The block's text for a running scenario: the command a user types, then the output."""
    args = path_args(scenario, mesh)
    done = subprocess.run([sys.executable, "-m", "kubectl_meshdebug", *args],
                          capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"},
                          timeout=120)
    service = scenario.service  # type: ignore[attr-defined]
    return (f"```\n$ kubectl meshdebug path sleep {service} -n foo\n{done.stdout.rstrip()}\n```\n")


def blocks(text: str) -> dict[str, str]:
    return {m.group(1): m.group(0).split("\n", 1)[1].rsplit("<!-- /lab -->", 1)[0]
            for m in BLOCK.finditer(text)}


def main() -> None:
    text = PAGE.read_text()
    for name in blocks(text):
        body = picture(name)
        text = re.sub(rf"<!-- lab:{name} -->\n.*?<!-- /lab -->",
                      lambda _m, n=name, b=body: f"<!-- lab:{n} -->\n{b}<!-- /lab -->",
                      text, flags=re.S)
    PAGE.write_text(text)


if __name__ == "__main__":
    main()
