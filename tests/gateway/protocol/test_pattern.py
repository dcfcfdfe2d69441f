"""Wildcard patterns: exactly fnmatchcase's semantics, without any process-wide cache."""

from __future__ import annotations

import fnmatch
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.protocol.pattern import Glob

PATTERN_ALPHABET = "ab-!*?[]^\\"
NAME_ALPHABET = "ab-!]^[\\c"


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("*", ["", "env", "a.b"], []),
        ("env", ["env"], ["env2", "en", "ENV"]),
        ("env*", ["env", "env2"], ["en", "xenv"]),
        ("env?", ["env2"], ["env", "env22"]),
        ("*1", ["relay1", "1"], ["relay2"]),
        ("a*b*c", ["abc", "aXbYc", "abbc", "acbc"], ["acb", "ab", "bc"]),
        ("*?*?*?", ["abc", "abcd"], ["ab"]),
        ("[ab]x", ["ax", "bx"], ["cx", "x"]),
        ("[!ab]x", ["cx"], ["ax", "x"]),
        ("[a-c]", ["a", "b", "c"], ["d", "-"]),
        ("[a-]", ["a", "-"], ["b"]),
        ("[]]", ["]"], ["a"]),
        ("[!]]", ["a"], ["]"]),
        ("[z-a]", [], ["z", "a", "m"]),
        ("[!z-a]", ["z", "a"], [""]),
        ("a[", ["a["], ["a"]),
        ("f[0-9]x", ["f5x"], ["fax"]),
        ("env.f12", ["env.f12"], ["env.f1"]),
        ("a*[bc]d*e", ["abde", "axcdye"], ["axde", "abd"]),
        ("**[ab]", ["a", "xb"], ["c", ""]),
        ("*x[bc]*", ["axb", "yxcz"], ["ab", "xa"]),
        ("?[ab]", ["xa", "?b"], ["xc", "a"]),
        ("a?c", ["abc", "a?c"], ["ac", "abd"]),
    ],
)
def test_documented_wildcards(pattern: str, yes: list[str], no: list[str]) -> None:
    """``*``, ``?``, classes with ranges and negation, a literal unclosed ``[``: as in the shell."""
    glob = Glob(pattern)
    assert [n for n in yes + no if glob.match(n)] == yes
    assert repr(glob) == f"Glob({pattern!r})"


@given(st.text(PATTERN_ALPHABET, max_size=12), st.text(NAME_ALPHABET, max_size=10))
@example("[!b-a]", "a")
@example("[a-c-e]", "d")
@example("[a-c-e]", "-")
@example("[--a]", "-")
@example("[!-a]", "-")
@example("[b-a-c]", "b")
@example("[a-b-]", "-")
def test_glob_matches_exactly_like_fnmatchcase(pattern: str, name: str) -> None:
    """For any pattern and name over an alphabet full of special characters, Glob agrees with fnmatchcase."""
    assert Glob(pattern).match(name) is fnmatch.fnmatchcase(name, pattern)


def test_compiling_and_matching_leave_process_wide_caches_alone() -> None:
    """Thousands of distinct patterns add nothing to fnmatch's or re's caches (memory stays with the caller)."""
    fnmatch._compile_pattern.cache_clear()  # type: ignore[attr-defined]
    re.purge()
    for n in range(2000):
        assert Glob(f"*?*?[a-c]{n}").match(f"xyb{n}")
    assert fnmatch._compile_pattern.cache_info().currsize == 0  # type: ignore[attr-defined]
    assert len(re._cache) == 0  # type: ignore[attr-defined]
