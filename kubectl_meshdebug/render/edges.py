"""The failing-calls map as a table, Graphviz dot and Mermaid.

The table keeps to a terminal's width: the destination as `name.namespace:port (subset)`,
the top two codes or flags and failing pods; the why-503 command for each of the first
edges follows the table on its own line, where it can be copied whole.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.mesh.commands import shell
from kubectl_meshdebug.render.graphs import dot_quote, mermaid_text
from kubectl_meshdebug.render.output import Column

NEXT_SHOWN = 3  # why-503 commands printed under the table


def destination_text(item: dict[str, Any]) -> str:
    host = item["destination"]
    if host.endswith(".svc.cluster.local"):
        host = host[: -len(".svc.cluster.local")]
    text = f"{host}:{item['port']}" if item["port"] else host
    return text + (f" ({item['subset']})" if item["subset"] else "")


def _count(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def _attempts(item: dict[str, Any]) -> str:
    """Tries that reached a host, failed/total (/clusters): a retried call counts once per
    try, so this is not a number of calls."""
    if item["attempts"] is None:
        return "-"
    return f"{_count(item['failed_attempts'])}/{_count(item['attempts'])}"


def _ratio(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.0f}%" if value >= 0.01 or not value \
        else f"{value * 100:.1f}%"


def _top(item: dict[str, Any]) -> str:
    words = [f"{c}x{n}" for c, n in list(item["response_codes"].items())[:2]]
    words += [f"{f}x{n}" for f, n in list(item["response_flags"].items())[:2]]
    if not words and item["counts"]["cluster_stats"]:
        stats = item["counts"]["cluster_stats"]
        words = [f"{k}x{stats[k]}" for k in ("overflow", "no_healthy_upstream") if stats.get(k)]
    return " ".join(words) or "-"


def _hosts(item: dict[str, Any]) -> str:
    bad = [h for h in item["hosts"] if h["failed"] or h["connect_failures"] or not h["healthy"]]
    names = [(h["pod"] or h["address"]).split("/")[-1] for h in bad[:2]]
    more = len(bad) - len(names)
    text = ",".join(names) + (f" +{more}" if more > 0 else "")
    if item["no_healthy_host"]:
        text = (text + " " if text else "") + "(none healthy)"
    return text or "-"


COLUMNS = [
    Column("source", "SOURCE"),
    Column("destination", "DESTINATION", value=destination_text),
    Column("calls", "CALLS", fmt=_count),
    Column("failed_calls", "FAILED", fmt=_count),
    Column("attempts", "ATTEMPTS", value=_attempts),
    Column("failure_ratio", "RATIO", fmt=_ratio),
    Column("top", "CODES/FLAGS", value=_top),
    Column("hosts", "FAILING PODS", value=_hosts),
    Column("basis", "COUNTED BY", wide=True),
    Column("next", "NEXT", wide=True, fmt=lambda argv: shell(argv) if argv else "-"),
]


def _label(item: dict[str, Any]) -> str:
    fails, reqs = _count(item["failures"]), _count(item["requests"])
    return f"{fails}/{reqs} failed" + (f" {_top(item)}" if item["failures"] else "")


def to_dot(items: list[dict[str, Any]], title: str) -> str:
    nodes: dict[str, str] = {}
    lines = ["digraph meshdebug_errors {", "  rankdir=LR;", f"  label={dot_quote(title)};",
             "  labelloc=t;", "  node [shape=box, fontname=\"monospace\"];"]
    for item in items:
        for name in (item["source"], destination_text(item)):
            nodes.setdefault(name, f"n{len(nodes)}")
    for name, node in nodes.items():
        lines.append(f"  {node} [label={dot_quote(name)}];")
    for item in items:
        failing = bool(item["failures"])
        style = " color=red, penwidth=2, fontcolor=red" if failing else " color=darkgreen"
        lines.append(f"  {nodes[item['source']]} -> {nodes[destination_text(item)]} "
                     f"[label={dot_quote(_label(item))},{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(items: list[dict[str, Any]]) -> str:
    nodes: dict[str, str] = {}
    lines = ["flowchart LR"]
    for item in items:
        for name in (item["source"], destination_text(item)):
            if name not in nodes:
                nodes[name] = f"n{len(nodes)}"
                lines.append(f"  {nodes[name]}[\"{mermaid_text(name)}\"]")
    failing = []
    for i, item in enumerate(items):
        lines.append(f"  {nodes[item['source']]} -->|\"{mermaid_text(_label(item))}\"| "
                     f"{nodes[destination_text(item)]}")
        if item["failures"]:
            failing.append(str(i))
    if failing:
        lines.append(f"  linkStyle {','.join(failing)} stroke:#c62828,stroke-width:3px;")
    return "\n".join(lines) + "\n"
