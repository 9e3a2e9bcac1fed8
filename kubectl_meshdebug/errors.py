"""Errors a user sees as one line on stderr, each with the exit code of DESIGN.md.

Every layer raises these instead of printing, so that only the CLI decides how a
failure looks and which exit code it gets.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class MeshdebugError(Exception):
    """A failure the user can act on; `hint` says what to do, `detail` is shown with -v."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail

    def one_line(self) -> str:
        """Message and hint on one line; control characters that came from outside (a
        proxy's error body) are shown as \\xNN, never sent to the terminal."""
        text = self.message.rstrip(".")
        if self.hint:
            text += f"; {self.hint}"
        return "".join(c if c.isprintable() else f"\\x{ord(c):02x}"
                       for c in " ".join(text.split()))


class UsageError(MeshdebugError):
    """Bad arguments or unreadable input files (exit 2)."""

    exit_code = EXIT_USAGE


class UnreachableError(MeshdebugError):
    """The cluster or the proxy could not be reached or refused us (exit 3)."""

    exit_code = EXIT_UNREACHABLE


class BadAnswerError(UnreachableError):
    """The cluster or a proxy answered, but not with what its API promises (exit 3):
    garbage, the wrong JSON type, a truncated body."""


class AdminError(MeshdebugError):
    """Envoy's admin API answered with an error. A 400 is what Envoy says to parameters it
    refuses (a regex RE2 cannot compile): the user's input, exit 2. Anything else (a 404
    from something that is not Envoy's admin API, a 5xx) is the proxy's: exit 3."""

    def __init__(self, message: str, *, status: int | None = None, **kw: str) -> None:
        super().__init__(message, **kw)
        self.status = status
        self.exit_code = EXIT_USAGE if status == 400 else EXIT_UNREACHABLE
