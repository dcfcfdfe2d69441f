"""What a token reload does to open sessions (gateway.protocol.sessions)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.sessions import TokenReview, review_sessions

A, B, C = b"token-a", b"token-b", b"token-c"


def test_removed_token_revokes_changed_role_moves_and_the_rest_stays() -> None:
    """Sessions of a removed token close, one whose token changed role gets it, others are untouched."""
    sessions = [("s1", A, "operator"), ("s2", B, "operator"), ("s3", C, "viewer"), ("s4", A, "operator")]
    review = review_sessions(sessions, {A: "operator", B: "viewer"})
    assert review == TokenReview(revoked=("s3",), roles=(("s2", "viewer"),))


def test_a_role_can_also_go_up() -> None:
    """A viewer token that becomes operator carries its session up with it."""
    assert review_sessions([("s", A, "viewer")], {A: "operator"}) == TokenReview(roles=(("s", "operator"),))


def test_sessions_without_a_token_close_once_tokens_are_required() -> None:
    """A session opened while the gateway had no tokens closes when a reload adds some, stays while none."""
    assert review_sessions([("s", None, "operator")], {A: "viewer"}) == TokenReview(revoked=("s",))
    assert review_sessions([("s", None, "operator")], {}) == TokenReview()


def test_removing_every_token_opens_the_gateway_and_revokes_nothing() -> None:
    """With no tokens left nothing is required any more: sessions keep going as they are."""
    assert review_sessions([("s", A, "viewer"), ("t", B, "operator")], {}) == TokenReview()


tokens = st.dictionaries(st.sampled_from([A, B, C]), st.sampled_from(["viewer", "operator"]))
session_rows = st.lists(
    st.tuples(st.sampled_from([A, B, C, None]), st.sampled_from(["viewer", "operator"])), max_size=12
)


@given(rows=session_rows, table=tokens)
def test_every_session_ends_in_exactly_one_state(
    rows: list[tuple[bytes | None, str]], table: dict[bytes, str]
) -> None:
    """Each session is revoked, re-roled or untouched - never two - and what stays holds a valid token's role."""
    sessions = [(i, token, role) for i, (token, role) in enumerate(rows)]
    review = review_sessions(sessions, table)
    changed = dict(review.roles)
    assert not set(review.revoked) & set(changed)
    for i, token, role in sessions:
        if i in review.revoked:
            assert table and (token is None or token not in table)
        elif table:
            assert token is not None and changed.get(i, role) == table[token]
        else:
            assert i not in changed
    assert list(review.revoked) == sorted(review.revoked)  # in the order given
