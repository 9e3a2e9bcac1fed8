"""The port-forward transport at the kubernetes client boundary, over a real socket pair."""

from __future__ import annotations

import socket
import threading

import pytest
from kubernetes import client as kclient

from kubectl_meshdebug.errors import UnreachableError
from kubectl_meshdebug.transport.portforward import PortForwardTransport


def core_api() -> kclient.CoreV1Api:
    """A real API object; only the streaming call below it is faked."""
    return kclient.CoreV1Api(kclient.ApiClient())


class FakeForward:
    """Like kubernetes.stream.portforward's object: socket(port) is one end of a pair."""

    def __init__(self, reply: bytes) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.received = b""

        def serve() -> None:
            self.received = self.theirs.recv(65536)
            if reply:
                self.theirs.sendall(reply)
            self.theirs.close()

        threading.Thread(target=serve, daemon=True).start()

    def socket(self, port: int) -> socket.socket:
        return self.ours

    def error(self, port: int) -> str | None:
        return "connection refused" if port else None

    def close(self) -> None:
        self.ours.close()


def test_request_over_port_forward(mocker):
    body = b"active loggers:\n  admin: info\n" * 2000
    forward = FakeForward(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n" + body)
    mocker.patch("kubernetes.stream.portforward", return_value=forward)
    response = PortForwardTransport(core_api(), "foo", "sleep", 15000).request(
        "POST", "/logging?paths=router:debug", 5)
    assert response.status == 200 and response.body == body
    assert forward.received.startswith(b"POST /logging?paths=router:debug HTTP/1.0\r\n")


def test_refused_port_forward(mocker):
    mocker.patch("kubernetes.stream.portforward", return_value=FakeForward(b""))
    with pytest.raises(UnreachableError) as err:
        PortForwardTransport(core_api(), "foo", "sleep", 15000).request("GET", "/ready", 5)
    assert "refused" in err.value.message
