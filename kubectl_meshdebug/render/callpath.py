"""The request path as a picture: text for terminals, Graphviz dot and Mermaid for documents.

The text form is one hop a line in travel order with an arrow between hops; the broken
hop carries the id of the finding that breaks it. Weighted routes split into branches
shown one after the other, each with its weight. `ascii` swaps the marks and arrows for
plain characters (old terminals, logs, e-mails); colour comes from the Printer (TTY only).
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.render.graphs import dot_quote, mermaid_text
from kubectl_meshdebug.render.output import Printer
from kubectl_meshdebug.text import one_line

_MARKS_UNICODE = {"ok": "✔", "broken": "✘", "unknown": "?"}
_MARKS_ASCII = {"ok": "ok", "broken": "XX", "unknown": "??"}
_COLOR = {"ok": "green", "broken": "red", "unknown": "yellow"}
_LABEL = {"client": "client", "listener": "listener", "route": "route", "cluster": "cluster",
          "endpoints": "endpoints", "server": "server", "app": "app"}


def path_lines(printer: Printer, path: dict[str, Any], ascii_only: bool = False) -> list[str]:
    """The picture of a CallPath.to_dict(), one string per line."""
    marks = _MARKS_ASCII if ascii_only else _MARKS_UNICODE
    arrow = "|" if ascii_only else "│"
    lines = [f"path: {one_line(path['client'])} -> {one_line(path['target'])}"]

    def hop_line(hop: dict[str, Any], indent: str) -> str:
        mark = printer.style(f"{marks[hop['mark']]:>2}", _COLOR[hop["mark"]], bold=True)
        text = f"{indent}{mark} {_LABEL[hop['hop']]:<9} {one_line(hop['name'])}"
        if hop["why"]:
            text += f"  ({one_line(hop['why'])})"
        if hop["finding"]:
            text += "  " + printer.style(f"<- [{hop['finding']}]", _COLOR[hop["mark"]])
        return text

    first = True
    for hop in path["hops"]:
        if not first:
            lines.append(f"    {arrow}")
        lines.append(hop_line(hop, " "))
        first = False
    branches = path["branches"]
    for i, branch in enumerate(branches):
        if not first:
            lines.append(f"    {arrow}")
        if len(branches) > 1:
            weight = f"weight {branch['weight']}" if branch["weight"] is not None else "no weight"
            fork = "+-" if ascii_only else ("├─" if i < len(branches) - 1 else "└─")
            lines.append(f"    {fork} branch {i + 1}/{len(branches)}: {weight} -> "
                         f"{one_line(branch['cluster'])}")
            indent = "    " + ("|" if ascii_only or i < len(branches) - 1 else " ") + "  "
        else:
            indent = " "
        for j, hop in enumerate(branch["hops"]):
            if j:
                lines.append(f"{indent}   {arrow}" if len(branches) > 1 else f"    {arrow}")
            lines.append(hop_line(hop, indent))
        first = False
    return lines


def _node_id(index: int) -> str:
    return f"h{index}"


def _graph(path: dict[str, Any]) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, str]]]:
    """Nodes (id, hop) and edges (from, to): common hops in a line, then each branch."""
    nodes: list[tuple[str, dict[str, Any]]] = []
    edges: list[tuple[str, str]] = []

    def chain(hops: list[dict[str, Any]], previous: str) -> str:
        for hop in hops:
            node = _node_id(len(nodes))
            nodes.append((node, hop))
            if previous:
                edges.append((previous, node))
            previous = node
        return previous

    fork = chain(path["hops"], "")
    for branch in path["branches"]:
        chain(branch["hops"], fork)
    return nodes, edges


def _node_text(hop: dict[str, Any]) -> str:
    text = f"{hop['hop']}: {hop['name']}"
    if hop["finding"]:
        text += f" [{hop['finding']}]"
    return text


def to_dot(path: dict[str, Any]) -> str:
    nodes, edges = _graph(path)
    colors = {"ok": "darkgreen", "broken": "red", "unknown": "goldenrod"}
    out = ["digraph meshdebug_path {", "  rankdir=TB;", "  node [shape=box, fontname=\"monospace\"];",
           f"  label={dot_quote(path['client'] + ' -> ' + path['target'])};", "  labelloc=t;"]
    for node, hop in nodes:
        style = ", style=\"bold,filled\", fillcolor=mistyrose" if hop["mark"] == "broken" else ""
        out.append(f"  {node} [label={dot_quote(_node_text(hop))}, "
                   f"color={colors[hop['mark']]}{style}];")
    for a, b in edges:
        out.append(f"  {a} -> {b};")
    out.append("}")
    return "\n".join(out) + "\n"


def to_mermaid(path: dict[str, Any]) -> str:
    nodes, edges = _graph(path)
    out = ["flowchart TD"]
    for node, hop in nodes:
        out.append(f"  {node}[\"{mermaid_text(_node_text(hop))}\"]:::{hop['mark']}")
    for a, b in edges:
        out.append(f"  {a} --> {b}")
    out += ["  classDef ok stroke:#2e7d32,stroke-width:2px;",
            "  classDef broken stroke:#c62828,stroke-width:4px,fill:#ffebee;",
            "  classDef unknown stroke:#f9a825,stroke-dasharray:4;"]
    return "\n".join(out) + "\n"
