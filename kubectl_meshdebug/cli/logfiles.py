"""`--log-file [[NS/]POD=]FILE`: one meaning on every command that reads istio-proxy logs.

`POD=FILE` (or `NS/POD=FILE`) is that pod's saved log; a bare `FILE` (or `-` for stdin)
is the log of the one pod the command is about (why-503's and path's client, the pod of
logs or sync). A file meant for a pod the command does not read is set aside with a note,
not refused, so that the same flags can be given to every command a report suggests.
"""

from __future__ import annotations

from kubectl_meshdebug.errors import UsageError
from kubectl_meshdebug.mesh.commands import is_label, is_subdomain


def _pod_ref(text: str) -> bool:
    """Whether `text` (before the `=`) names a pod: NAME or NS/NAME as Kubernetes allows."""
    namespace, slash, name = text.rpartition("/")
    return is_subdomain(name) and (not slash or is_label(namespace))


def names_pod(given: str, label: str) -> bool:
    """Whether the POD of `POD=FILE` (NAME or NS/NAME) is the pod `label` (NS/NAME)."""
    return given == label or ("/" not in given and label.endswith("/" + given))


class LogFiles:
    def __init__(self, specs: tuple[str, ...] | list[str]) -> None:
        self.named: list[tuple[str, str]] = []  # (NAME or NS/NAME, FILE)
        self.bare: str | None = None
        for spec in specs:
            pod, sep, path = spec.partition("=")
            if sep and path and _pod_ref(pod):
                self.named.append((pod, path))
            elif self.bare is not None:
                raise UsageError(f"--log-file {spec}: a second log without a pod",
                                 hint="give each as POD=FILE (or NS/POD=FILE)")
            else:
                self.bare = spec

    def __bool__(self) -> bool:
        return bool(self.named) or self.bare is not None

    def path_for(self, label: str) -> str | None:
        """The file given for the pod `label` (NS/NAME), by NS/NAME or by NAME."""
        return next((path for pod, path in self.named if names_pod(pod, label)), None)

    def unmatched(self, labels: list[str]) -> list[str]:
        """The POD= names that match none of `labels`."""
        return [pod for pod, _ in self.named if not any(names_pod(pod, lb) for lb in labels)]

    def require_one_pod(self, many: bool) -> None:
        """A bare FILE belongs to one pod: refused when the command reads several."""
        if self.bare is not None and many:
            raise UsageError(f"--log-file {self.bare}: this reads several pods; say whose "
                             "log it is", hint="give it as POD=FILE (or NS/POD=FILE)")
