"""The fast JSON writer (big listings and config dumps) writes the same document that
json.dumps would, for any JSON value, at every depth of flattening."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_meshdebug.render.output import write_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(doc=JSON, depth=st.integers(0, 5))
def test_same_document_as_json_dumps(doc, depth):
    out = io.StringIO()
    write_json(out.write, doc, flat_depth=depth)
    assert json.loads(out.getvalue()) == json.loads(json.dumps(doc))


def test_indented_above_flat_below():
    out = io.StringIO()
    write_json(out.write, {"configs": [{"a": [{"x": [1, 2]}]}]}, flat_depth=4)
    assert out.getvalue().splitlines() == [
        "{", '  "configs": [', "    {", '      "a": [', '        {"x": [1, 2]}', "      ]",
        "    }", "  ]", "}"]
