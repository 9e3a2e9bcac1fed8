"""The layers only point down: cli -> render -> checks -> mesh -> envoy -> transport -> kube.

Every import in the package, module-level or inside a function, is read from the source;
a module may import its own layer, any layer below, and the shared modules (errors, numbers, text,
inputs, pool). The lab (real Envoys on loopback) is reached only from `cli/demo.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "kubectl_meshdebug"
LAYERS = ["cli", "render", "checks", "mesh", "envoy", "transport", "kube"]
SHARED = {"errors", "inputs", "jsonload", "numbers", "findingpages", "pool", "text", "__init__", "__main__"}


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in out if name.startswith("kubectl_meshdebug")]


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_imports_point_down():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if here in SHARED or here == "lab":
            continue
        for line, module in imports(path):
            there = layer_of(module)
            if there in SHARED or there == "":
                continue
            if there == "lab":
                if path != PACKAGE / "cli" / "demo.py":
                    wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
                continue
            if LAYERS.index(there) < LAYERS.index(here):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert wrong == []


def test_shared_modules_import_no_layer():
    for name in SHARED - {"__main__"}:
        path = PACKAGE / f"{name}.py"
        assert all(layer_of(m) in SHARED for _, m in imports(path)), name


def test_lab_uses_no_layer_above_envoy():
    for path in sorted((PACKAGE / "lab").rglob("*.py")):
        for line, module in imports(path):
            there = layer_of(module)
            assert there in SHARED or there in ("lab", "envoy", "transport", "kube"), \
                f"{path.name}:{line} imports {module}"


def test_only_cli_knows_click_and_only_render_prints():
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = path.relative_to(PACKAGE).parts[0]
        text = path.read_text()
        if layer != "cli":
            assert "import click" not in text, path
        if layer not in ("cli", "render", "lab"):
            assert "print(" not in text, path
