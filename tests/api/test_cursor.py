import pytest

from workers.api import cursor

SECRET = b"k" * 32
POSITION = cursor.Position("2024-01-01T00:00:00.000Z#abc", "abc")


def test_a_cursor_round_trips_for_its_owner():
    assert cursor.decode(SECRET, "alice", cursor.encode(SECRET, "alice", POSITION)) == POSITION


@pytest.mark.parametrize(
    "owner, secret", [("bob", SECRET), ("alice", b"other-secret")], ids=["other caller", "other secret"]
)
def test_a_cursor_fails_for_another_caller_or_secret(owner, secret):
    with pytest.raises(cursor.InvalidCursor):
        cursor.decode(secret, owner, cursor.encode(SECRET, "alice", POSITION))


@pytest.mark.parametrize("bad", ["", ".", "x.y", "é.é", "W10.AAAA"])
def test_garbage_is_invalid_not_an_error(bad):
    with pytest.raises(cursor.InvalidCursor):
        cursor.decode(SECRET, "alice", bad)


def test_every_flipped_character_is_detected():
    token = cursor.encode(SECRET, "alice", POSITION)
    for index, char in enumerate(token):
        if char == ".":
            continue
        forged = token[:index] + ("A" if char != "A" else "B") + token[index + 1 :]
        with pytest.raises(cursor.InvalidCursor):
            cursor.decode(SECRET, "alice", forged)
