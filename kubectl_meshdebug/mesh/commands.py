"""Commands the tool suggests ("next:", "run:", "fix:"), built as argument vectors.

A suggestion is pasted into a shell or fed to `eval`, and its arguments are names a proxy,
a manifest or the API server reported: data from outside. So every suggestion is an argv
first; text is made from it by `shlex.quote` of each argument, and JSON carries the argv
itself. Names are checked against the grammar Kubernetes (or Envoy) gives them before they
are offered: a name no real object can carry is not put into a command at all.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

# Kubernetes' validation (k8s.io/apimachinery/pkg/util/validation): DNS-1123 labels for
# namespaces and Service names, DNS-1123 subdomains for pods and most other objects.
_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?\Z")
_SUBDOMAIN_PART = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?\Z")
# Hosts and label values as Istio accepts them: letters, digits, and - _ . * only.
_HOST = re.compile(r"[A-Za-z0-9*](?:[-A-Za-z0-9_.*]{0,251}[A-Za-z0-9])?\Z")
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z")


def is_label(name: object) -> bool:
    """A DNS-1123 label: a namespace or Service name."""
    return isinstance(name, str) and bool(_LABEL.match(name))


def is_subdomain(name: object) -> bool:
    """A DNS-1123 subdomain: a pod, Deployment or DestinationRule name."""
    return (isinstance(name, str) and 0 < len(name) <= 253
            and all(_SUBDOMAIN_PART.match(part) for part in name.split(".")))


def is_host(name: object) -> bool:
    """A host (FQDN, short name or wildcard) as a VirtualService or DestinationRule has it."""
    return isinstance(name, str) and bool(_HOST.match(name))


def is_label_value(value: object) -> bool:
    return isinstance(value, str) and bool(_LABEL_VALUE.match(value))


def shell(argv: Sequence[str]) -> str:
    """The argv as one POSIX shell line: each argument quoted when it needs it."""
    return " ".join(shlex.quote(str(a)) for a in argv)


def meshdebug(*args: str) -> list[str]:
    """`kubectl meshdebug ARGS` as an argv."""
    return ["kubectl", "meshdebug", *args]


def pod_command(verb: str, pod: str, namespace: str, *rest: str) -> list[str] | None:
    """`kubectl meshdebug VERB POD [REST...] -n NS`, or None when the pod or namespace is
    not a name Kubernetes allows (then no command is offered at all)."""
    if not is_subdomain(pod) or not is_label(namespace):
        return None
    return meshdebug(verb, pod, *rest, "-n", namespace)


def pod_hint(verb: str, pod: str, namespace: str, *rest: str, placeholder: str = "POD") -> str:
    """The text of pod_command, with a placeholder where the names are not valid ones."""
    argv = pod_command(verb, pod, namespace, *rest)
    if argv is None:
        return shell(meshdebug(verb, placeholder, *rest))
    return shell(argv)


def proxy_hint(verb: str, label: str, *rest: str) -> str:
    """pod_hint for a proxy known by its `namespace/pod` label."""
    namespace, _, pod = label.rpartition("/")
    return pod_hint(verb, pod, namespace, *rest)


def kubectl_hint(*args: str, names: Sequence[str] = ()) -> str:
    """`kubectl ARGS` as text; any of `names` (the arguments that came from outside) that
    is not a valid Kubernetes name makes the whole hint generic (`<name>` placeholders)."""
    bad = {n for n in names if not is_subdomain(n)}
    return shell(["kubectl", *("<name>" if a in bad else a for a in args)]).replace(
        "'<name>'", "<name>")
