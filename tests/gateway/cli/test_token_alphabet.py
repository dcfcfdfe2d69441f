"""Generated tokens travel everywhere a token must: config validation and the bearer.<token> subprotocol."""

from __future__ import annotations

import argparse

import pytest

from gateway.cli import token as cmd_token
from gateway.config import TOKEN_RE, parse_config


def test_generated_tokens_are_subprotocol_safe_and_accepted_by_the_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`sensorcast token` prints 43 characters of [A-Za-z0-9_-] (tchars, no padding) that a config accepts."""
    tokens = []
    for _ in range(200):
        assert cmd_token.main(argparse.Namespace(file=None, name=None, role="viewer")) == 0
        tokens.append(capsys.readouterr().out.strip())
    assert all(len(t) == 43 and TOKEN_RE.fullmatch(t) for t in tokens)
    assert set("".join(tokens)) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    assert not any(c in "".join(tokens) for c in "/=+")
    cfg = parse_config({"security": {"tokens": [{"token": t} for t in tokens[:5]]}})
    assert [t.token for t in cfg.security.tokens] == tokens[:5]
