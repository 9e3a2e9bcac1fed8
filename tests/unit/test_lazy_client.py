"""The kubernetes client imported by the names meshdebug uses, not its 800 modules; any
other name still gives what the real package holds."""

from __future__ import annotations

import json
import subprocess
import sys

USE = """
import json, sys
import kubectl_meshdebug.kube.client
from kubernetes import client, config
from kubernetes.stream import stream, portforward
from kubernetes.client.exceptions import ApiException
api = client.CoreV1Api(client.ApiClient(client.Configuration()))
loaded = [m for m in sys.modules if m.split(".")[0] == "kubernetes"]
from kubernetes.client import api_client, configuration
same = (client.ApiClient is api_client.ApiClient and client.Configuration is
        configuration.Configuration and callable(config.load_kube_config))
after = {}
if "--model" in sys.argv:
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="x"))
    after = {"pod": pod.metadata.name, "apps": client.AppsV1Api.__name__,
             "loaded": len([m for m in sys.modules if m.split(".")[0] == "kubernetes"])}
print(json.dumps({"loaded": len(loaded), "same": same, **{"after": after}}))
"""


def _run(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", USE, *args], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout)


def test_the_names_meshdebug_uses_load_a_few_modules():
    seen = _run()
    assert seen["same"]
    assert seen["loaded"] < 60  # the whole package is over 800


def test_any_other_name_loads_the_real_package():
    seen = _run("--model")
    assert seen["after"]["pod"] == "x" and seen["after"]["apps"] == "AppsV1Api"
    assert seen["after"]["loaded"] > 700
