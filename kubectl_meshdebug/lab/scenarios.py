"""The failure scenarios of the lab: each a mesh, the traffic that fails, the expected cause.

Every scenario is one of the stories this tool was built for: the Kubernetes and Istio
objects a user applied and the behaviour of real apps. Its Envoys replay what real istiod
sent for those objects (lab/recording.py); on the test cluster the same objects run on a
real mesh. `drive` sends the failing traffic and returns what the caller saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubectl_meshdebug.lab.mesh import LabMesh, LabPod, LabService
from kubectl_meshdebug.lab.traffic import Outcome, burst, http_call, tls_call

NET = "networking.istio.io/v1"
MESH_STRICT = {
    "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
    "metadata": {"name": "default", "namespace": "istio-system"},
    "spec": {"mtls": {"mode": "STRICT"}},
}


def mesh_config(auto_mtls: bool = True, extra: str = "") -> dict[str, Any]:
    """The `istio` ConfigMap: access logs to stdout (the demo profile's setting, which the
    lab's Envoys follow), auto mTLS as asked."""
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": "istio-system"},
        "data": {"mesh": f"enableAutoMtls: {'true' if auto_mtls else 'false'}\n"
                         "rootNamespace: istio-system\naccessLogFile: /dev/stdout\n" + extra},
    }


def obj(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    api = NET if kind in ("DestinationRule", "VirtualService", "Sidecar",
                          "ServiceEntry", "Gateway") else "v1"
    return {"apiVersion": api, "kind": kind,
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def httpbin_pod(name: str = "httpbin-v1", version: str = "v1", app: str = "ok",
                app_port: int = 8080, sidecar: bool = True) -> LabPod:
    return LabPod(name, labels={"app": "httpbin", "version": version}, app=app,
                  app_port=app_port, service_account="httpbin", sidecar=sidecar)


Drive = Callable[[LabMesh], list[Outcome]]
MESH_AS_LAB = "as-in-the-lab"


def _http(port: int, host: str, count: int = 1) -> Drive:
    def drive(mesh: LabMesh) -> list[Outcome]:
        return [http_call(mesh.client_target(host, port), host) for _ in range(count)]
    return drive


@dataclass
class Scenario:
    name: str
    summary: str
    expected: str | None  # the first finding's id; None for the healthy pair
    build: Callable[[], LabMesh]
    drive: Drive
    symptom: str  # what the caller sees, as it appears in the outcome
    service: str = "httpbin"  # why-503's SVC argument
    client: str = "sleep"  # why-503's POD argument (an ingress gateway's pod, or sleep)
    client_namespace: str = "foo"
    needs_logs: bool = False  # found only with access logs (or per-cluster stats)
    map_first: bool = False  # the demo finds the failing pair with `errors -A` first
    # On a real mesh (istiod's config, iptables), where it differs from the lab's: what
    # the caller sees (alternatives split by " | "), and the first finding (MESH_AS_LAB:
    # the same as `expected`).
    mesh_symptom: str | None = None
    mesh_expected: str | None = MESH_AS_LAB

    def __post_init__(self) -> None:
        build = self.build

        def recorded() -> LabMesh:
            mesh = build()
            mesh.recording = self.name  # its Envoys replay what istiod sent for it
            return mesh
        self.build = recorded

    @property
    def real_symptom(self) -> str:
        return self.mesh_symptom or self.symptom

    @property
    def real_expected(self) -> str | None:
        return self.expected if self.mesh_expected == MESH_AS_LAB else self.mesh_expected

    def why503_args(self, mesh: LabMesh, logs: bool = True) -> list[str]:
        """The why-503 command line for this scenario, offline: -f, --admin-url, --log-file."""
        args = ["why-503", self.client, self.service, "-n", self.client_namespace, "-f",
                str(mesh.workdir / "manifests.yaml"), *mesh.admin_url_args()]
        if logs:
            args += ["--log-file", str(mesh.client_log())]
            parts = self.service.split(":")[0].split(".")
            name, namespace = parts[0], parts[1] if len(parts) > 1 else "foo"
            for svc in mesh.services:
                for pod in svc.pods:
                    if (svc.name, svc.namespace) == (name, namespace) and pod.name in mesh.envoys:
                        args += ["--log-file", f"{pod.name}={mesh.envoys[pod.name].log_path}"]
        return args

    def errors_args(self, mesh: LabMesh) -> list[str]:
        """`errors -A --logs` over the lab's sidecars, offline (the client's log as a file)."""
        return ["errors", "-A", "-f", str(mesh.workdir / "manifests.yaml"),
                *mesh.admin_url_args(), "--log-file",
                f"{mesh.client.namespace}/{mesh.client.name}={mesh.client_log()}"]

    def run_traffic(self, mesh: LabMesh) -> list[Outcome]:
        outcomes = self.drive(mesh)
        time.sleep(0.25)  # access logs flush every 100 ms
        return outcomes


def healthy() -> LabMesh:
    return LabMesh([LabService("httpbin", pods=[httpbin_pod()])],
                   objects=[MESH_STRICT, mesh_config()])


def dr_no_tls() -> LabMesh:
    """Story 1: a circuit-breaking DestinationRule without tls, mesh-wide ISTIO_MUTUAL, no
    auto mTLS: the client sends plaintext to a STRICT server. 503 UC."""
    dr = obj("DestinationRule", "httpbin", "foo", {
        "host": "httpbin",
        "trafficPolicy": {
            "connectionPool": {"tcp": {"maxConnections": 1},
                               "http": {"http1MaxPendingRequests": 1,
                                        "maxRequestsPerConnection": 1}}}})
    mesh_wide = obj("DestinationRule", "default", "istio-system", {
        "host": "*.local", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}})
    svc = LabService("httpbin", pods=[httpbin_pod()])
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config(auto_mtls=False), mesh_wide, dr])


def tls_disable_strict() -> LabMesh:
    dr = obj("DestinationRule", "httpbin", "foo", {
        "host": "httpbin", "trafficPolicy": {"tls": {"mode": "DISABLE"}}})
    svc = LabService("httpbin", pods=[httpbin_pod()])
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config(), dr])


def port_443_http() -> LabMesh:
    """Story 0: a Service elsewhere names port 443 `http`; HTTPS to hosts outside the mesh
    meets the sidecar's HTTP listener for 443: 'wrong version number'."""
    tekton = LabPod("tekton-dashboard-6b9", namespace="tekton-pipelines",
                    labels={"app": "tekton-dashboard"}, app="ok", app_port=8443)
    svc = LabService("tekton-dashboard", namespace="tekton-pipelines", port=443,
                     target_port=8443, port_name="http", pods=[tekton])
    return LabMesh([svc, LabService("httpbin", pods=[httpbin_pod()])],
                   objects=[MESH_STRICT, mesh_config()])


def _tls_external(mesh: LabMesh) -> list[Outcome]:
    return [tls_call(mesh.client_target("httpbin.org", 443), "httpbin.org")]


def subset_no_pods() -> LabMesh:
    dr = obj("DestinationRule", "httpbin", "foo", {
        "host": "httpbin", "subsets": [{"name": "v1", "labels": {"version": "v1-bug"}}]})
    vs = obj("VirtualService", "httpbin", "foo", {
        "hosts": ["httpbin"], "http": [{"route": [{"destination": {
            "host": "httpbin", "subset": "v1"}}]}]})
    svc = LabService("httpbin", pods=[httpbin_pod()])
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config(), dr, vs])


def gateway_pod() -> LabPod:
    """An ingress gateway's pod, fresh each time (a LabMesh gives its pods addresses)."""
    return LabPod("istio-ingressgateway-7d9", namespace="istio-system",
                  labels={"app": "istio-ingressgateway", "istio": "ingressgateway"},
                  service_account="istio-ingressgateway-service-account", app=None)


def gateway_client() -> LabMesh:
    """An ingress gateway is the caller: the Gateway serves port 8080, its VirtualService
    sends every host to subset v1 of httpbin, whose labels (version: v1-bug) match no pod:
    503 UH at the gateway. Its routes live in route config `http.8080`."""
    gateway = obj("Gateway", "ingress", "istio-system", {
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"},
                     "hosts": ["*"]}]})
    dr = obj("DestinationRule", "httpbin", "foo", {
        "host": "httpbin.foo.svc.cluster.local",
        "subsets": [{"name": "v1", "labels": {"version": "v1-bug"}}]})
    vs = obj("VirtualService", "httpbin-ingress", "foo", {
        "hosts": ["*"], "gateways": ["istio-system/ingress"],
        "http": [{"route": [{"destination": {"host": "httpbin.foo.svc.cluster.local",
                                             "subset": "v1", "port": {"number": 8000}}}]}]})
    svc = LabService("httpbin", pods=[httpbin_pod()])
    return LabMesh([svc], client=gateway_pod(), gateway_port=8080,
                   objects=[MESH_STRICT, mesh_config(), gateway, dr, vs])


def weighted_branch_no_pods() -> LabMesh:
    """A canary split 50/50 between v1 (running) and v2 (scaled to zero): half the calls
    get 503 UH. The v2 branch must not borrow v1's answers."""
    pod = httpbin_pod()
    dr = obj("DestinationRule", "httpbin", "foo", {
        "host": "httpbin", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                       {"name": "v2", "labels": {"version": "v2"}}]})
    vs = obj("VirtualService", "httpbin", "foo", {
        "hosts": ["httpbin"], "http": [{"route": [
            {"destination": {"host": "httpbin", "subset": "v1"}, "weight": 50},
            {"destination": {"host": "httpbin", "subset": "v2"}, "weight": 50}]}]})
    svc = LabService("httpbin", pods=[pod])
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config(), dr, vs])


def vs_subset_undefined() -> LabMesh:
    pod = httpbin_pod()
    dr = obj("DestinationRule", "httpbin", "foo", {
        "host": "httpbin", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]})
    vs = obj("VirtualService", "httpbin", "foo", {
        "hosts": ["httpbin"], "http": [{"route": [{"destination": {
            "host": "httpbin", "subset": "v2"}}]}]})
    svc = LabService("httpbin", pods=[pod])
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config(), dr, vs])


def sidecar_hides_host() -> LabMesh:
    reviews = LabPod("reviews-v1", namespace="bar", labels={"app": "reviews", "version": "v1"},
                     service_account="reviews")
    hidden = LabService("reviews", namespace="bar", pods=[reviews])
    sidecar = obj("Sidecar", "default", "foo", {"egress": [{"hosts": ["./*",
                                                                     "istio-system/*"]}]})
    return LabMesh([LabService("httpbin", pods=[httpbin_pod()]), hidden],
                   objects=[MESH_STRICT, mesh_config(), sidecar])


def sidecar_hides_host_registry_only() -> LabMesh:
    """As unknown-host, under outboundTrafficPolicy REGISTRY_ONLY: block_all answers 502."""
    mesh = sidecar_hides_host()
    mesh.objects = [o if o.get("kind") != "ConfigMap" else mesh_config(
        extra="outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n") for o in mesh.objects]
    return mesh


def circuit_breaker() -> LabMesh:
    dr = obj("DestinationRule", "httpbin", "foo", {
        "host": "httpbin", "trafficPolicy": {"connectionPool": {
            "tcp": {"maxConnections": 1}, "http": {"http1MaxPendingRequests": 1}}}})
    svc = LabService("httpbin", pods=[httpbin_pod(app="slow")])
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config(), dr])


def _burst(mesh: LabMesh) -> list[Outcome]:
    return burst(mesh.client_target("httpbin.foo", 8000), "httpbin.foo:8000", 6)


def outlier() -> LabMesh:
    pods = [httpbin_pod("httpbin-v1-a", app="fail"), httpbin_pod("httpbin-v1-b", app="fail")]
    dr = obj("DestinationRule", "httpbin", "foo", {
        "host": "httpbin", "trafficPolicy": {"outlierDetection": {
            "consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "180s",
            "maxEjectionPercent": 100}}})
    svc = LabService("httpbin", pods=pods)
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config(), dr])


def target_port_ejected() -> LabMesh:
    """Two causes on one call: targetPort 8080 where the app listens on 9090 makes every
    call fail at the server sidecar (503 UF there), and the caller's outlier detection
    then ejects the only host (503 UH). Fixing the ejection alone leaves every call
    failing: the targetPort is the cause that explains both."""
    dr = obj("DestinationRule", "httpbin", "foo", {
        "host": "httpbin", "trafficPolicy": {"outlierDetection": {
            "consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "180s",
            "maxEjectionPercent": 100}}})
    svc = LabService("httpbin", pods=[httpbin_pod(app_port=9090)], target_port=8080)
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config(), dr])


def _calls_until(mesh: LabMesh, done: Callable[[Outcome], bool]) -> list[Outcome]:
    """Calls to httpbin until one is `done`, for 15 s at most: Envoy ejects on its
    detection timer (interval 1s), not at the failing call."""
    outcomes = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        outcomes.append(http_call(mesh.client_target("httpbin.foo", 8000), "httpbin.foo:8000"))
        if done(outcomes[-1]):
            break
        time.sleep(0.25)
    return outcomes


def _until_ejected(mesh: LabMesh) -> list[Outcome]:
    """Until the caller answers 503 UH itself (the host ejected), not merely until the
    first 503 (the server sidecar's, before outlier detection acts)."""
    return _calls_until(mesh, lambda o: "no healthy upstream" in o.body)


def _until_uh(mesh: LabMesh) -> list[Outcome]:
    """Until the first 503: the ejections show."""
    return _calls_until(mesh, lambda o: o.status == 503)


def invalid_header() -> LabMesh:
    legacy = LabPod("legacy-7c4", labels={"app": "legacy"}, app="bad-header", sidecar=False)
    svc = LabService("legacy", pods=[legacy])
    return LabMesh([svc, LabService("httpbin", pods=[httpbin_pod()])],
                   objects=[mesh_config()])


def target_port() -> LabMesh:
    svc = LabService("httpbin", pods=[httpbin_pod(app_port=9090)], target_port=8080)
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config()])


def no_endpoints() -> LabMesh:
    svc = LabService("httpbin", pods=[], selector={"app": "httpbin-typo"})
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config()], extra_pods=[httpbin_pod()])


def rds_rejected() -> LabMesh:
    return LabMesh([LabService("httpbin", pods=[httpbin_pod()])],
                   objects=[MESH_STRICT, mesh_config()], broken="rds")


def cds_rejected() -> LabMesh:
    """The Service exists, but the proxy rejected the cluster update carrying its cluster:
    the route points at a cluster the proxy never accepted, 503 NC."""
    return LabMesh([LabService("httpbin", pods=[httpbin_pod()])],
                   objects=[MESH_STRICT, mesh_config()], broken="cds")


def lds_rejected() -> LabMesh:
    """The proxy rejected its listener update: no outbound listener for 8000. In a pod the
    call would leave through virtualOutbound to PassthroughCluster; without iptables here,
    nothing listens on the port at all."""
    return LabMesh([LabService("httpbin", pods=[httpbin_pod()])],
                   objects=[MESH_STRICT, mesh_config()], broken="lds")


def route_timeout() -> LabMesh:
    """A VirtualService timeout of 1s in front of an app that takes 3s: 504 UT."""
    vs = obj("VirtualService", "httpbin", "foo", {
        "hosts": ["httpbin"], "http": [{"timeout": "1s", "route": [{"destination": {
            "host": "httpbin"}}]}]})
    svc = LabService("httpbin", pods=[httpbin_pod(app="very-slow")])
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config(), vs])


def app_resets() -> LabMesh:
    """The app closes connections it should answer on: its own sidecar logs 503 UC
    (connection_termination) towards it, while TLS between the sidecars is fine."""
    svc = LabService("httpbin", pods=[httpbin_pod(app="reset")])
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config()])


def http2_port() -> LabMesh:
    """The Service names its port `http2` in front of an app that speaks only HTTP/1.1:
    the server sidecar speaks h2c to the app, which cannot parse it: 502/503 at the
    server sidecar, the app never sees a request it understands."""
    svc = LabService("httpbin", pods=[httpbin_pod()], port_name="http2")
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config()])


def invalid_header_behind_sidecar() -> LabMesh:
    """The app behind a sidecar sends `Time : x`: its sidecar answers 502 UPE, which the
    caller's sidecar logs as a plain 502 from upstream."""
    svc = LabService("httpbin", pods=[httpbin_pod(app="bad-header")])
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config()])


def _app_pod(app: str, version: str = "v1", app_port: int = 8080) -> LabPod:
    """A server pod; the lab's one server certificate is for the `httpbin` service account,
    so every server pod runs as it (the SAN the callers' clusters verify)."""
    return LabPod(f"{app}-{version}", labels={"app": app, "version": version},
                  service_account="httpbin", app_port=app_port)


# The four-services scenario's traffic: calls per Service (errors checks these counts).
FOUR_SERVICES_CALLS = {"httpbin.foo:8000": 3, "reviews.foo:9080": 5, "ratings.foo:9080": 1,
                       "details.foo:9080": 2}


def four_services() -> LabMesh:
    """sleep calls four Services; two edges fail for different causes. reviews: its
    circuit-breaking DestinationRule has no tls, so it replaces the mesh-wide ISTIO_MUTUAL
    and plaintext meets a STRICT sidecar (503 UC). ratings: targetPort 8080, the app listens
    on 9090 (503 at the caller after retries; UF at ratings' sidecar)."""
    mesh_wide = obj("DestinationRule", "default", "istio-system", {
        "host": "*.local", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}})
    dr = obj("DestinationRule", "reviews", "foo", {
        "host": "reviews", "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 100}}}})
    # Istio's default retries leave a 503 from upstream alone (no retriable status codes);
    # ratings' owners asked for retries on 5xx, so each failing call costs three attempts
    retries = obj("VirtualService", "ratings", "foo", {
        "hosts": ["ratings"], "http": [{"retries": {"attempts": 2, "retryOn": "5xx"},
                                        "route": [{"destination": {"host": "ratings"}}]}]})
    services = [
        LabService("httpbin", pods=[httpbin_pod()]),
        LabService("reviews", port=9080, pods=[_app_pod("reviews")]),
        LabService("ratings", port=9080, pods=[_app_pod("ratings", app_port=9090)]),
        LabService("details", port=9080, pods=[_app_pod("details")]),
    ]
    return LabMesh(services, objects=[MESH_STRICT, mesh_config(auto_mtls=False), mesh_wide, dr,
                                      retries])


def _authorization_policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": name, "namespace": "foo"}, "spec": spec}


def authz_allow_other() -> LabMesh:
    """httpbin allows only reviews' identity: sleep matches no ALLOW rule, and its
    sidecar answers 403 (rbac_access_denied_matched_policy[none])."""
    allow = _authorization_policy("httpbin-callers", {
        "selector": {"matchLabels": {"app": "httpbin"}}, "action": "ALLOW",
        "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/foo/sa/reviews"]}}]}]})
    svc = LabService("httpbin", pods=[httpbin_pod()])
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config(), allow])


def authz_deny_namespace() -> LabMesh:
    """A DENY policy for calls from namespace foo: sleep's calls match its rule 0, and
    httpbin's sidecar names the policy (ns[foo]-policy[deny-foo]-rule[0])."""
    deny = _authorization_policy("deny-foo", {
        "selector": {"matchLabels": {"app": "httpbin"}}, "action": "DENY",
        "rules": [{"from": [{"source": {"namespaces": ["foo"]}}],
                   "to": [{"operation": {"methods": ["GET"]}}]}]})
    svc = LabService("httpbin", pods=[httpbin_pod()])
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config(), deny])


def _four_services_traffic(mesh: LabMesh) -> list[Outcome]:
    out = []
    for host, count in FOUR_SERVICES_CALLS.items():
        port = int(host.rsplit(":", 1)[1])
        out += [http_call(mesh.client_target(host, port), host) for _ in range(count)]
    return out


SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("dr-no-tls", "A circuit-breaking DestinationRule without tls overrides mesh-wide "
             "ISTIO_MUTUAL: 503 UC", "dr-tls-overrides-mtls", dr_no_tls,
             _http(8000, "httpbin.foo:8000", 2), "503 upstream connect error"),
    Scenario("tls-disable-strict", "tls.mode DISABLE towards a STRICT server: 503 UC",
             "tls-mode-mismatch", tls_disable_strict, _http(8000, "httpbin.foo:8000"),
             "503 upstream connect error"),
    Scenario("port-443-http", "A Service elsewhere names port 443 'http': with istiod 1.31 "
             "HTTPS out of the mesh still works (TLS takes the listener's passthrough chain); "
             "older Istio answered 'wrong version number'", None,
             port_443_http, _tls_external, "HTTP/1.0 200 ok", service="httpbin.org:443"),
    Scenario("subset-no-pods", "A DestinationRule subset (version: v1-bug) selects no pod: "
             "503 UH", "subset-no-pods", subset_no_pods, _http(8000, "httpbin.foo:8000"),
             "503 no healthy upstream"),
    Scenario("gateway-client", "An ingress gateway calls a subset that selects no pod: 503 "
             "UH at the gateway, its routes in route config http.8080", "subset-no-pods",
             gateway_client, _http(8080, "httpbin.example.com"), "503 no healthy upstream",
             service="httpbin.foo:8000", client=gateway_pod().name, client_namespace=gateway_pod().namespace),
    Scenario("weighted-branch-no-pods", "A 50/50 split where subset v2 has no pods: half "
             "the calls get 503 UH", "subset-no-pods", weighted_branch_no_pods,
             _http(8000, "httpbin.foo:8000", count=8), "503 no healthy upstream"),
    Scenario("vs-subset-undefined", "A VirtualService routes to subset v2, which no "
             "DestinationRule defines: 503 NC", "vs-subset-undefined", vs_subset_undefined,
             _http(8000, "httpbin.foo:8000"), "503"),
    Scenario("unknown-host", "A Sidecar resource hides the host from the client (ALLOW_ANY): "
             "the call falls into allow_any and leaves through PassthroughCluster",
             "sidecar-egress-hides-host", sidecar_hides_host,
             _http(8000, "reviews.bar:8000"), "503", service="reviews.bar"),
    Scenario("unknown-host-registry-only", "A Sidecar resource hides the host from the client "
             "(REGISTRY_ONLY): block_all answers 502", "sidecar-egress-hides-host",
             sidecar_hides_host_registry_only, _http(8000, "reviews.bar:8000"), "502",
             service="reviews.bar"),
    Scenario("circuit-breaker", "Circuit breakers of 1 connection / 1 pending request "
             "overflow under 6 concurrent calls: 503 UO", "circuit-breaker-overflow",
             circuit_breaker, _burst, "reset reason: overflow", needs_logs=True),
    Scenario("outlier-ejected", "Outlier detection ejects every host; with no panic threshold "
             "(minHealthPercent 0) callers get 503 UH", "outlier-ejected", outlier, _until_uh,
             "503 no healthy upstream"),
    Scenario("invalid-header", "The upstream sends an invalid header ('Time : x'): 502 UPE",
             "upstream-protocol-error", invalid_header, _http(8000, "legacy.foo:8000"),
             "502 upstream connect error", service="legacy", needs_logs=True),
    Scenario("target-port", "targetPort 8080, but the app listens on 9090: 503 UF at the "
             "server sidecar", "target-port-not-listening", target_port,
             _http(8000, "httpbin.foo:8000"), "503 upstream connect error"),
    Scenario("target-port-ejected", "Two causes on one call: a targetPort nobody listens on "
             "fails every call, then outlier detection ejects the only host: 503 UH",
             "target-port-not-listening", target_port_ejected, _until_ejected,
             "503 no healthy upstream"),
    Scenario("no-endpoints", "The Service's selector matches no pod: 503 UH", "no-endpoints",
             no_endpoints, _http(8000, "httpbin.foo:8000"), "503 no healthy upstream"),
    Scenario("rds-rejected", "The proxy rejected its route update: every call 404 NR",
             "proxy-config-rejected", rds_rejected, _http(8000, "httpbin.foo:8000"), "404"),
    Scenario("cds-rejected", "The proxy rejected its cluster update, the Service exists: "
             "503 NC", "proxy-config-rejected", cds_rejected,
             _http(8000, "httpbin.foo:8000"), "503"),
    Scenario("lds-rejected", "The proxy rejected its listener update: no listener for the "
             "port", "proxy-config-rejected", lds_rejected,
             _http(8000, "httpbin.foo:8000"), "ConnectionRefusedError",
             # with iptables the call enters virtualOutbound and leaves through
             # PassthroughCluster as plaintext, which nothing there accepts; with no
             # kube-proxy in the harness the ClusterIP connect is refused or, on a loaded
             # machine, outlasts the client's timeout (seen once in CI)
             mesh_symptom="ConnectionResetError | RemoteDisconnected | TimeoutError"),
    Scenario("route-timeout", "A VirtualService timeout of 1s before an app that takes 3s: "
             "504 UT", "route-timeout", route_timeout, _http(8000, "httpbin.foo:8000"),
             "504 upstream request timeout"),
    Scenario("app-resets-connection", "The app closes connections unanswered: its sidecar "
             "logs 503 UC, TLS is fine", "app-resets-connection", app_resets,
             _http(8000, "httpbin.foo:8000"), "503", needs_logs=True),
    Scenario("invalid-header-behind-sidecar", "The app behind a sidecar sends an invalid "
             "header: 502 UPE at its sidecar, a plain 502 at the caller's",
             "upstream-protocol-error", invalid_header_behind_sidecar,
             _http(8000, "httpbin.foo:8000"), "502", needs_logs=True),
    Scenario("http2-port", "The Service names its port 'http2', the app speaks HTTP/1.1: "
             "its sidecar speaks h2c to it and gets nothing it can parse",
             "http2-port-http1-app", http2_port, _http(8000, "httpbin.foo:8000"),
             "502 upstream connect error or disconnect/reset before headers. reset reason: "
             "protocol error"),
    Scenario("four-services", "sleep calls four Services; two fail for different causes: "
             "reviews (DestinationRule without tls, 503 UC) and ratings (targetPort, 503)",
             "dr-tls-overrides-mtls", four_services, _four_services_traffic, "503",
             service="reviews.foo:9080", map_first=True),
    Scenario("authz-allow-other", "httpbin's ALLOW policy names another caller: its "
             "sidecar answers 403 RBAC: access denied", "authz-denied", authz_allow_other,
             _http(8000, "httpbin.foo:8000"), "403 RBAC: access denied", needs_logs=True),
    Scenario("authz-deny-namespace", "A DENY policy matches the caller's namespace: 403 "
             "naming the policy and rule", "authz-denied", authz_deny_namespace,
             _http(8000, "httpbin.foo:8000"), "403 RBAC: access denied", needs_logs=True),
    Scenario("healthy", "A healthy pair: auto mTLS to a STRICT server, 200 OK", None, healthy,
             _http(8000, "httpbin.foo:8000"), "200"),
]}


def gateway_routes_all() -> LabMesh:
    """An ingress gateway whose VirtualService sends every host to httpbin; Service
    `orders` runs too, no route of the gateway's leads there."""
    gateway = obj("Gateway", "ingress", "istio-system", {
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"},
                     "hosts": ["*"]}]})
    vs = obj("VirtualService", "httpbin-ingress", "foo", {
        "hosts": ["*"], "gateways": ["istio-system/ingress"],
        "http": [{"route": [{"destination": {"host": "httpbin.foo.svc.cluster.local",
                                             "port": {"number": 8000}}}]}]})
    orders = LabService("orders", port=9000, pods=[LabPod(
        "orders-v1", labels={"app": "orders", "version": "v1"}, service_account="orders")])
    return LabMesh([LabService("httpbin", pods=[httpbin_pod()]), orders], client=gateway_pod(),
                   gateway_port=8080, objects=[MESH_STRICT, mesh_config(), gateway, vs],
                   recording="gateway-routes-all")


def permissive_port_80() -> LabMesh:
    """httpbin on port 80 (targetPort 80) under Istio's default PERMISSIVE mode."""
    return LabMesh([LabService("httpbin", pods=[httpbin_pod()], port=80, target_port=80)],
                   objects=[mesh_config()], recording="permissive-port-80")


STATS_INCLUSION = "proxy.istio.io/config"


def with_cluster_stats(build: Callable[[], LabMesh], name: str) -> Callable[[], LabMesh]:
    """BUILD's mesh, its client keeping per-cluster stats (`cluster.outbound|...`) as a
    pod does whose annotation adds them to Istio's stats inclusion list."""
    def built() -> LabMesh:
        mesh = build()
        mesh.client.annotations[STATS_INCLUSION] = (
            '{"proxyStatsMatcher": {"inclusionPrefixes": ["cluster.outbound"]}}')
        mesh.recording = name
        return mesh
    return built


# Lab meshes tests use beside the scenarios; recorded like them.
LAB_MESHES: dict[str, Callable[[], LabMesh]] = {
    "gateway-routes-all": gateway_routes_all, "permissive-port-80": permissive_port_80,
    "healthy-cluster-stats": with_cluster_stats(healthy, "healthy-cluster-stats"),
    "four-services-cluster-stats": with_cluster_stats(four_services,
                                                      "four-services-cluster-stats")}


def recorded_meshes() -> dict[str, Callable[[], LabMesh]]:
    """Every lab mesh whose Envoy configuration is recorded from istiod, by name."""
    return {**{name: sc.build for name, sc in SCENARIOS.items()}, **LAB_MESHES}
