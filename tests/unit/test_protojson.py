"""Proto3 JSON normalisation: camelCase fields to snake_case, map keys left alone."""

from __future__ import annotations


def test_extension_names_are_map_keys_not_fields():
    """typed_extension_protocol_options is keyed by extension names, which carry capitals:
    they must neither be snake_cased nor make a snake_case dump look camelCase."""
    from kubectl_meshdebug.envoy.config_dump import upstream_http_protocol
    from kubectl_meshdebug.envoy.protojson import needs_normalizing, normalize

    key = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    cluster = {"name": "inbound|8080||", "typed_extension_protocol_options": {key: {
        "@type": f"type.googleapis.com/{key}", "explicit_http_config": {
            "http2_protocol_options": {}}}}}
    assert not needs_normalizing({"configs": [{"cluster": cluster}]})
    assert upstream_http_protocol(normalize(cluster)) == "h2"
    camel = {"typedExtensionProtocolOptions": {key: {"explicitHttpConfig": {
        "http2ProtocolOptions": {}}}}}
    assert upstream_http_protocol(normalize(camel)) == "h2"
