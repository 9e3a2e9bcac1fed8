"""The typed reading of objects: every field the checks use, with the type it must have.

The API server validates objects before it stores them; files given with `-f` have had no
such luck (`audit -f` exists to check hand-written files). Objects are checked here once,
when they are read, so that the layers above can trust the shape of what they get: a
wrong type is named with its object, its field and what was expected, instead of
surfacing as a crash somewhere in a check.
"""

from __future__ import annotations

from typing import Any, Union

Obj = dict[str, Any]

# A schema is a type (str, int, bool, float), a tuple of those (any of them), a dict of
# field -> schema (an object), a one-element list [schema] (a list of those), or MAP
# (an object of string values, like labels).
# A key ending in "!" is required (Kubernetes or Istio rejects the object without it).
MAP = "map[string]string"


class MapOf:
    """An object whose keys are free (ports, names) and whose values follow `schema`."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema

ANY = "any"
Schema = Union[type, tuple, dict, list, str, MapOf]

_SELECTOR = {"matchLabels": MAP, "matchExpressions": [{"key!": str, "operator!": str,
                                                        "values": [str]}]}
_META = {"name": str, "namespace": str, "labels": MAP, "annotations": MAP,
         "creationTimestamp": (str,), "uid": str,
         "ownerReferences": [{"kind": str, "name": str, "uid": str}]}
_PORT_NUMBER = {"number!": int}
_TLS = {"mode": str, "sni": str, "subjectAltNames": [str], "credentialName": str}
_TRAFFIC_POLICY = {
    "tls": _TLS, "connectionPool": {"tcp": dict, "http": dict},
    "outlierDetection": dict, "loadBalancer": dict,
    "portLevelSettings": [{"port": _PORT_NUMBER, "tls": _TLS, "connectionPool": dict,
                           "outlierDetection": dict, "loadBalancer": dict}],
}
_DESTINATION = {"host!": str, "subset": str, "port": _PORT_NUMBER}
_STRING_MATCH = {"exact": str, "prefix": str, "regex": str}
_MATCH = {"name": str, "uri": _STRING_MATCH, "authority": _STRING_MATCH, "method": _STRING_MATCH,
          "scheme": _STRING_MATCH, "headers": {}, "port": int, "sourceLabels": MAP,
          "gateways": [str], "sniHosts": [str], "destinationSubnets": [str]}
_ROUTES = [{"route": [{"destination": _DESTINATION, "weight": int}],
            "match": [_MATCH], "mirror": _DESTINATION,
            "mirrors": [{"destination": _DESTINATION}], "timeout": str, "name": str}]
_CONTAINER = {"name": str, "image": str, "ports": [{"containerPort!": int, "name": str,
                                                    "protocol": str}]}
_POD_SPEC = {"containers": [_CONTAINER], "initContainers": [_CONTAINER],
             "nodeName": str, "hostNetwork": bool, "serviceAccountName": str}

SCHEMAS: dict[str, dict[str, Schema]] = {
    "Service": {"spec": {
        "type": str, "clusterIP": str, "externalName": str, "selector": MAP,
        "ports": [{"name": str, "port!": int, "targetPort": (int, str), "protocol": str,
                   "appProtocol": str}]}},
    "Pod": {"spec": _POD_SPEC, "status": {
        "phase": str, "podIP": str, "conditions": [{"type": str, "status": str}],
        "containerStatuses": [{"name!": str, "restartCount": int, "ready": bool}]}},
    "Namespace": {},
    "Node": {},
    "ConfigMap": {"data": MAP},
    "Event": {"reason": str, "message": str, "involvedObject": {"kind": str, "name": str,
                                                                 "namespace": str}},
    "Endpoints": {"subsets": [dict]},
    "Deployment": {"spec": {"selector": _SELECTOR,
                            "template": {"metadata": _META, "spec": _POD_SPEC}}},
    "ReplicaSet": {"spec": {"selector": _SELECTOR,
                            "template": {"metadata": _META, "spec": _POD_SPEC}}},
    "StatefulSet": {"spec": {"selector": _SELECTOR,
                             "template": {"metadata": _META, "spec": _POD_SPEC}}},
    "DaemonSet": {"spec": {"selector": _SELECTOR,
                           "template": {"metadata": _META, "spec": _POD_SPEC}}},
    "MutatingWebhookConfiguration": {"webhooks": [{
        "name": str, "failurePolicy": str, "namespaceSelector": _SELECTOR,
        "objectSelector": _SELECTOR,
        "clientConfig": {"caBundle": str, "url": str,
                         "service": {"name": str, "namespace": str, "path": str,
                                     "port": int}}}]},
    "DestinationRule": {"spec": {
        "host": str, "trafficPolicy": _TRAFFIC_POLICY, "exportTo": [str],
        "workloadSelector": {"matchLabels": MAP},
        "subsets": [{"name!": str, "labels": MAP, "trafficPolicy": _TRAFFIC_POLICY}]}},
    "VirtualService": {"spec": {"hosts": [str], "gateways": [str], "exportTo": [str],
                                "http": _ROUTES, "tcp": _ROUTES, "tls": _ROUTES}},
    "ServiceEntry": {"spec": {"hosts": [str], "exportTo": [str], "resolution": str,
                              "location": str,
                              "ports": [{"number!": int, "name": str, "protocol": str,
                                         "targetPort": int}]}},
    "Sidecar": {"spec": {"workloadSelector": {"labels": MAP},
                         "egress": [{"hosts": [str], "port": dict}]}},
    "Gateway": {"spec": {"selector": MAP, "servers": [dict]}},
    "PeerAuthentication": {"spec": {"selector": {"matchLabels": MAP},
                                    "mtls": {"mode": str},
                                    "portLevelMtls": MapOf({"mode": str})}},
}

_NAMES = {str: "a string", int: "a number", bool: "true or false", float: "a number",
          dict: "an object", list: "a list"}


def _what(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    for kind, name in ((str, "a string"), (int, "a number"), (float, "a number"),
                       (dict, "an object"), (list, "a list")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def _expected(schema: Schema) -> str:
    if schema == MAP:
        return "an object of strings"
    if isinstance(schema, tuple):
        return " or ".join(_NAMES.get(t, str(t)) for t in schema)
    if isinstance(schema, list):
        return "a list"
    if isinstance(schema, (dict, MapOf)):
        return "an object"
    return _NAMES.get(schema, str(schema))  # type: ignore[arg-type]


def _fits(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def problems(value: Any, schema: Schema, path: str, out: list[str], limit: int = 5) -> None:
    """Append `path: found X, expected Y` for every place `value` breaks `schema`."""
    if len(out) >= limit or value is None or schema == ANY:
        return
    if schema == MAP:
        if not isinstance(value, dict):
            out.append(f"{path} is {_what(value)}, expected an object of strings")
        else:
            for key, item in value.items():
                if isinstance(item, (dict, list)):
                    out.append(f"{path}.{key} is {_what(item)}, expected a string")
                    break
        return
    if isinstance(schema, MapOf):
        if not isinstance(value, dict):
            out.append(f"{path} is {_what(value)}, expected an object")
            return
        for key, item in value.items():
            if item is None:
                continue
            problems(item, schema.schema, f"{path}.{key}", out, limit)
        return
    if isinstance(schema, tuple):
        if not any(_fits(value, t) for t in schema):
            out.append(f"{path} is {_what(value)}, expected {_expected(schema)}")
        return
    if isinstance(schema, list):
        if not isinstance(value, list):
            out.append(f"{path} is {_what(value)}, expected a list")
            return
        for i, item in enumerate(value):
            if item is None and schema[0] != ANY:
                out.append(f"{path}[{i}] is null, expected {_expected(schema[0])}")
            else:
                problems(item, schema[0], f"{path}[{i}]", out, limit)
        return
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            out.append(f"{path} is {_what(value)}, expected an object")
            return
        for key, sub in schema.items():
            name = key.rstrip("!")
            where = f"{path}.{name}" if path else name
            if name in value:
                problems(value[name], sub, where, out, limit)
            elif key.endswith("!") and len(out) < limit:
                out.append(f"{where} is missing, and it is required")
        return
    if isinstance(schema, type) and not _fits(value, schema):
        out.append(f"{path} is {_what(value)}, expected {_expected(schema)}")


def drop_nulls(obj: Any) -> Any:
    """Remove `key: null` everywhere in the object, in place, as the API server stores it:
    YAML's empty `spec:` is null, and a null field means the field is not set. Readers then
    meet an absent field, never a None where they expect an object. Each node is visited
    once: YAML aliases share nodes, and a recursive alias (`&a [*a]`) makes a cycle."""
    stack = [obj]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            for key in [k for k, v in node.items() if v is None]:
                del node[key]
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))
    return obj


def check_object(obj: Obj) -> list[str]:
    """What is wrongly typed in one object (its metadata and the fields meshdebug reads)."""
    out: list[str] = []
    problems(obj.get("metadata"), _META, "metadata", out)
    schema = SCHEMAS.get(str(obj.get("kind")))
    if schema:
        problems({k: v for k, v in obj.items() if k in schema}, schema, "", out)
    return out


def describe(obj: Obj) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    ns, name = meta.get("namespace"), meta.get("name")
    where = f"{ns}/{name}" if isinstance(ns, str) and ns else str(name)
    return f"{obj.get('kind')} {where}"
