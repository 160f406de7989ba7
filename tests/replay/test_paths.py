"""The path grammar shared by diff reports and --ignore."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcapture.errors import UsageError
from rtcapture.replay.paths import (
    ANY_INDEX,
    ANY_KEY,
    PathSyntaxError,
    format_path,
    matches,
    parse_ignores,
    parse_path,
    parse_pattern,
)

tokens = st.lists(st.one_of(st.text(min_size=0, max_size=8), st.integers(0, 50)), max_size=6)
paths = tokens.filter(lambda p: bool(p) and isinstance(p[0], str)).map(tuple)


def test_reported_paths_read_as_written() -> None:
    """The paths the report prints are plain dotted keys with [N] indices."""
    assert format_path(("response", 2, "output_text")) == "response[2].output_text"
    assert format_path(("session", "updated", 0, "session", "instructions")) == \
        "session.updated[0].session.instructions"
    assert format_path(("response", 0, "metadata", "a key.x")) == \
        'response[0].metadata."a key.x"'


@given(paths)
def test_every_printed_path_parses_back(path: tuple) -> None:
    """format_path and parse_path are inverses, whatever the keys hold."""
    assert parse_path(format_path(path)) == path


@given(paths)
def test_a_printed_path_pasted_into_ignore_matches_itself(path: tuple) -> None:
    """Any path the report prints works verbatim as an --ignore pattern."""
    (pattern,) = parse_ignores([format_path(path)])
    assert pattern.matches(path)


def test_wildcards_and_prefixes() -> None:
    """[*] matches any index, * any key, and a pattern covers everything below it."""
    usage = parse_pattern("response[*].usage.output_tokens")
    assert usage == ("response", ANY_INDEX, "usage", "output_tokens")
    assert matches(usage, ("response", 3, "usage", "output_tokens"))
    assert not matches(usage, ("response", 3, "usage", "input_tokens"))
    assert matches(parse_pattern("response[*].usage"),
                   ("response", 0, "usage", "output_token_details", "audio_tokens"))
    assert matches(parse_pattern("response[2]"), ("response", 2, "output_text"))
    assert not matches(parse_pattern("response[2]"), ("response", 1, "output_text"))
    assert parse_pattern("*.status") == (ANY_KEY, "status")
    assert matches(parse_pattern("response.*.city"), ("response", 0, "x", "city"))


def test_a_key_without_index_matches_any_index() -> None:
    """``session.updated.session.instructions`` covers every session.updated event."""
    pattern = parse_pattern("session.updated.session.instructions")
    assert matches(pattern, ("session", "updated", 3, "session", "instructions"))
    assert not matches(pattern, ("session", "created", 0, "session", "instructions"))


def test_longer_pattern_does_not_match_shorter_path() -> None:
    """A pattern deeper than the difference does not hide it."""
    assert not matches(parse_pattern("response[1].usage.output_tokens"), ("response", 1))


@pytest.mark.parametrize("text", ["", "a..b", "a.", ".a", "a[", "a[x]", "a[1", 'a."b', "a b",
                                  "a[-1]", "a]"])
def test_bad_syntax_is_rejected(text: str) -> None:
    """Malformed paths raise with a position."""
    with pytest.raises(PathSyntaxError):
        parse_pattern(text)


def test_bad_ignore_is_a_usage_error() -> None:
    """A bad --ignore exits 2 naming the argument."""
    with pytest.raises(UsageError, match=r"--ignore 'a\[x\]'"):
        parse_ignores(["a[x]"])


def test_wildcards_only_in_patterns() -> None:
    """parse_path refuses wildcards (paths are concrete)."""
    with pytest.raises(PathSyntaxError):
        parse_path("response[*]")
