"""Shell-style wildcard patterns for subscription paths, without a process-wide cache. Pure.

The semantics are exactly :func:`fnmatch.fnmatchcase`'s (``*`` any run, ``?`` one character, ``[abc]``,
``[a-z]`` and ``[!abc]`` classes, an unclosed ``[`` is literal), but a pattern is compiled into a small
:class:`Glob` owned by whoever compiled it - here, a subscription set - and freed with it. ``fnmatch`` keeps
every pattern it ever saw in a process-wide cache (up to 32768 compiled regular expressions), and ``re`` keeps
another 512: peers that send thousands of distinct patterns would grow the gateway's memory for good.

Matching never backtracks more than once per ``*``: the parts between stars have a fixed length, so the
leftmost fit of each part is always the right one. A match costs at most ``len(name) * len(pattern)`` steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

_STARS = re.compile(r"\*+")


@dataclass(frozen=True, slots=True)
class CharClass:
    """A bracket expression: ``chars`` and inclusive ``ranges``, negated when ``negate``."""

    negate: bool
    chars: frozenset[str]
    ranges: tuple[tuple[str, str], ...]

    def __contains__(self, c: object) -> bool:
        assert isinstance(c, str)
        hit = c in self.chars or any(lo <= c <= hi for lo, hi in self.ranges)
        return hit is not self.negate


Atom = str | CharClass | None
"""One position of a part: a literal character, a class, or None for ``?``."""
Part = str | tuple[Atom, ...]
"""The text between two stars: a string (``?`` in it stands for any character: a literal ``?`` can only be
written inside a class) or, when it holds a class, a tuple of atoms."""


def _class(body: str) -> CharClass:
    """Parse the inside of ``[...]`` the way :func:`fnmatch.translate` does (Python 3.11 to 3.13)."""
    negate = body.startswith("!")
    if "-" not in body:
        return CharClass(negate, frozenset(body[negate:]), ())
    # Split at the hyphens that make ranges (a leading hyphen, or one right after "!", is literal)...
    chunks: list[str] = []
    i = 0
    k = 2 if negate else 1
    while (k := body.find("-", k)) >= 0:
        chunks.append(body[i:k])
        i = k + 1
        k = k + 3
    if body[i:]:
        chunks.append(body[i:])
    else:
        chunks[-1] += "-"  # a trailing hyphen is literal
    # ... and drop empty ranges (z-a), with both their ends, as fnmatch does.
    for k in range(len(chunks) - 1, 0, -1):
        if chunks[k - 1][-1] > chunks[k][0]:
            chunks[k - 1] = chunks[k - 1][:-1] + chunks[k][1:]
            del chunks[k]
    chunks[0] = chunks[0][negate:]
    ranges = tuple((a[-1], b[0]) for a, b in pairwise(chunks))
    return CharClass(negate, frozenset("".join(chunks)), ranges)


def _atoms(pattern: str) -> list[Atom | bool]:
    """Tokens of ``pattern``: atoms, and True for each run of stars."""
    out: list[Atom | bool] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            if not out or out[-1] is not True:
                out.append(True)
        elif c == "?":
            out.append(None)
        elif c == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            j = pattern.find("]", j)
            if j < 0:
                out.append("[")
            else:
                out.append(_class(pattern[i:j]))
                i = j + 1
        else:
            out.append(c)
    return out


def _part(atoms: list[Atom]) -> Part:
    if all(isinstance(a, str) or a is None for a in atoms):
        return "".join("?" if a is None else a for a in atoms if not isinstance(a, CharClass))
    return tuple(atoms)


def _at(part: Part, name: str, pos: int) -> bool:
    """True when ``part`` matches ``name`` at ``pos`` (the caller checked that it fits)."""
    if isinstance(part, str):
        if "?" not in part:
            return name.startswith(part, pos)
        return all(a == "?" or a == c for a, c in zip(part, name[pos : pos + len(part)], strict=True))
    for a, c in zip(part, name[pos : pos + len(part)], strict=True):
        if a is None:
            continue
        if isinstance(a, str):
            if a != c:
                return False
        elif c not in a:
            return False
    return True


def _find(part: Part, name: str, start: int, end: int) -> int:
    """Leftmost position ``>= start`` where ``part`` matches within ``name[:end]``, or -1."""
    if isinstance(part, str) and "?" not in part:
        return name.find(part, start, end)
    for pos in range(start, end - len(part) + 1):
        if _at(part, name, pos):
            return pos
    return -1


class Glob:
    """One compiled wildcard pattern; :meth:`match` is :func:`fnmatch.fnmatchcase` for it."""

    __slots__ = ("_head", "_middle", "_min_len", "_star", "_tail", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        compiled: list[Part]
        if "[" not in pattern:  # the common case, split in C: no class can hide a literal * or ?
            compiled = _STARS.split(pattern)
        else:
            parts: list[list[Atom]] = [[]]
            for t in _atoms(pattern):
                if t is True:
                    parts.append([])
                else:
                    assert t is not False
                    parts[-1].append(t)
            compiled = [_part(p) for p in parts]
        self._star = len(compiled) > 1
        self._head = compiled[0]
        self._tail = compiled[-1] if self._star else ""
        self._middle = tuple(p for p in compiled[1:-1] if p)
        self._min_len = sum(map(len, compiled))

    def __repr__(self) -> str:
        return f"Glob({self.pattern!r})"

    def match(self, name: str) -> bool:
        """True when ``name`` matches the whole pattern (case-sensitive)."""
        n = len(name)
        if n < self._min_len:
            return False
        head = self._head
        if not self._star:
            return n == len(head) and _at(head, name, 0)
        if not _at(head, name, 0):
            return False
        tail = self._tail
        end = n - len(tail)
        if not _at(tail, name, end):
            return False
        pos = len(head)
        for part in self._middle:
            found = _find(part, name, pos, end)
            if found < 0:
                return False
            pos = found + len(part)
        return True
