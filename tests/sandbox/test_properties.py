"""Properties of the pure helpers behind the DNS answers and the fault rules."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from polaris_tui.sandbox.dns_server import txt_strings
from polaris_tui.sandbox.faults import parse
from polaris_tui.sandbox.zone import fqdn, in_zone

printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=2048)


@given(printable.filter(lambda s: not s.startswith('"')))
def test_txt_split_is_lossless_and_bounded(content):
    chunks = txt_strings(content)
    assert b"".join(chunks) == content.encode()
    assert all(len(c) <= 255 for c in chunks)


@given(
    st.lists(
        st.text(st.characters(min_codepoint=97, max_codepoint=122), max_size=300),
        min_size=1,
        max_size=4,
    )
)
@example(["a" * 300, "b"])  # a DKIM key in one quoted string: Cloudflare splits it
def test_quoted_txt_keeps_short_strings_and_splits_long_ones(parts):
    content = " ".join(f'"{p}"' for p in parts)
    chunks = txt_strings(content)
    assert all(len(c) <= 255 for c in chunks)
    assert b"".join(chunks) == "".join(parts).encode()
    if all(len(p) <= 255 for p in parts):
        assert chunks == [p.encode() for p in parts]
    else:
        assert len(chunks) > len(parts)


@given(st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,2}", fullmatch=True))
def test_fqdn_is_inside_the_zone_and_idempotent(name):
    full = fqdn(name, "polaris.test")
    assert in_zone(full, "polaris.test")
    assert fqdn(full, "polaris.test") == full


@given(
    st.sampled_from(["GET", "POST", "*"]),
    st.integers(100, 599),
    st.one_of(st.none(), st.integers(0, 9)),
)
def test_fault_rules_parse(method, status, count):
    spec = f"{method}:/zones/*:{status}" + (f":{count}" if count is not None else "")
    (rule,) = parse(spec)
    assert (rule.method, rule.value, rule.remaining) == (method, status, count)
