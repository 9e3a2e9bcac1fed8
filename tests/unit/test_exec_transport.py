"""The exec transport at the kubernetes client boundary: fake exec streams replay frames."""

from __future__ import annotations

import json

import pytest
from kubernetes import client as kclient

from kubectl_meshdebug.envoy.admin import AdminClient
from kubectl_meshdebug.errors import AdminError, UnreachableError
from kubectl_meshdebug.transport.exec import ExecTransport, parse_error_channel

SUCCESS = json.dumps({"metadata": {}, "status": "Success"})


def exit_status(code: int) -> str:
    return json.dumps({"metadata": {}, "status": "Failure",
                       "message": f"command terminated with non-zero exit code: {code}",
                       "reason": "NonZeroExitCode",
                       "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}})


def core_api() -> kclient.CoreV1Api:
    """A real API object; only the streaming call below it is faked."""
    return kclient.CoreV1Api(kclient.ApiClient())


class FakeExecStream:
    """Replays stdout/stderr frames, then closes with an error-channel status."""

    def __init__(self, stdout: list[bytes], stderr: list[bytes], status: str) -> None:
        self.frames = [(1, c) for c in stdout] + [(2, c) for c in stderr]
        self.status = status.encode()
        self.buffers: dict[int, bytes] = {}
        self.closed = False

    def is_open(self) -> bool:
        return bool(self.frames)

    def update(self, timeout: float = 0) -> None:
        if self.frames:
            channel, data = self.frames.pop(0)
            self.buffers[channel] = self.buffers.get(channel, b"") + data

    def peek_stdout(self) -> bytes:
        return self.buffers.get(1, b"")

    def peek_stderr(self) -> bytes:
        return self.buffers.get(2, b"")

    def read_stdout(self) -> bytes:
        return self.buffers.pop(1, b"")

    def read_stderr(self) -> bytes:
        return self.buffers.pop(2, b"")

    def read_channel(self, channel: int) -> bytes:
        return self.status if channel == 3 else b""

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_stream(mocker):
    calls: list[list[str]] = []
    replies: list[FakeExecStream] = []

    def stream(func, name, namespace, **kwargs):
        calls.append(kwargs["command"])
        assert kwargs["stdin"] is False and kwargs["tty"] is False
        return replies.pop(0)

    mocker.patch("kubernetes.stream.stream", side_effect=stream)
    return calls, replies


def transport(port: int = 15000) -> ExecTransport:
    return ExecTransport(core_api(), "foo", "sleep-5b59", "istio-proxy", port)


def test_large_output_in_chunks_arrives_whole(fake_stream):
    calls, replies = fake_stream
    body = json.dumps({"configs": [{"x": "y" * 1000}] * 5000}).encode()
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    replies.append(FakeExecStream(chunks, [], SUCCESS))
    response = transport().request("GET", "/config_dump?include_eds", 30)
    assert response.body == body and response.status is None
    assert calls == [["pilot-agent", "request", "GET", "config_dump?include_eds"]]


def test_pilot_agent_missing_falls_back_to_curl_with_status(fake_stream):
    calls, replies = fake_stream
    replies.append(FakeExecStream([], [], json.dumps({
        "status": "Failure", "message": 'OCI runtime exec failed: exec failed: unable to start '
        'container process: exec: "pilot-agent": executable file not found in $PATH'})))
    replies.append(FakeExecStream([b"active loggers:\n  admin: info\n",
                                   b"\n__meshdebug_status:200"], [], SUCCESS))
    client = AdminClient(transport(), timeout=5)
    assert client.loggers() == {"admin": "info"}
    assert calls[1][:4] == ["curl", "-sS", "-X", "POST"]
    assert calls[1][-1] == "http://127.0.0.1:15000/logging"


def test_nonstandard_port_goes_straight_to_curl(fake_stream):
    calls, replies = fake_stream
    replies.append(FakeExecStream([b"LIVE", b"\n__meshdebug_status:200"], [], SUCCESS))
    response = transport(19000).request("GET", "/ready", 5)
    assert response.status == 200 and response.body == b"LIVE"
    assert calls[0][0] == "curl" and calls[0][-1] == "http://127.0.0.1:19000/ready"


def test_pilot_agent_hides_404_so_the_body_is_recognised(fake_stream):
    _, replies = fake_stream
    replies.append(FakeExecStream([b"dynamic_endpoint_configs not found in config dump\n"], [],
                                  SUCCESS))
    with pytest.raises(AdminError) as err:
        AdminClient(transport(), timeout=5).config_dump(resource="dynamic_endpoint_configs")
    assert err.value.status == 404


def test_pilot_agent_error_status_is_read_from_its_message(fake_stream):
    _, replies = fake_stream
    replies.append(FakeExecStream([], [b"Error: received unsuccessful status code 400: "
                                       b"error: unknown logger name\n"], exit_status(1)))
    with pytest.raises(AdminError) as err:
        AdminClient(transport(), timeout=5).set_levels({"nosuch": "debug"})
    assert err.value.status == 400


def test_curl_connection_refused_is_unreachable(fake_stream):
    _, replies = fake_stream
    replies.append(FakeExecStream([b"\n__meshdebug_status:000"],
                                  [b"curl: (7) Failed to connect to 127.0.0.1 port 19000"],
                                  exit_status(7)))
    with pytest.raises(UnreachableError) as err:
        transport(19000).request("GET", "/ready", 5)
    assert "refused" in err.value.message


def test_forbidden_exec_names_the_rbac_rule(mocker):
    from kubernetes.client.exceptions import ApiException

    exc = ApiException(status=403, reason="Forbidden")
    exc.body = json.dumps({"message": 'pods "sleep-5b59" is forbidden: User "dev" cannot create '
                           'resource "pods/exec"'})
    mocker.patch("kubernetes.stream.stream", side_effect=exc)
    with pytest.raises(UnreachableError) as err:
        transport().request("GET", "/ready", 5)
    line = err.value.one_line()
    assert "create" in line and "pods/exec" in line and "namespace foo" in line


def test_no_shell_and_no_path_tricks(fake_stream):
    calls, replies = fake_stream
    for bad in ("/stats; rm -rf /", "/../etc/passwd", "/stats\nGET /quitquitquit"):
        with pytest.raises(ValueError):
            transport().request("GET", bad, 5)
    assert calls == []


def test_error_channel_parsing():
    assert parse_error_channel(SUCCESS) == (0, "")
    assert parse_error_channel(exit_status(7))[0] == 7
    assert parse_error_channel("")[0] == 0
