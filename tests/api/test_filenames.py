import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.api.filenames import FALLBACK_NAME, MAX_FILENAME_BYTES, attachment_disposition, safe_name


def test_separators_controls_and_dot_dot_are_stripped():
    assert safe_name("../a/b\\c\x00\x1f\u202e..d.txt") == "abcd.txt"


def test_dots_joined_by_stripping_are_stripped_too():
    assert ".." not in safe_name("a.../..b")


def test_unicode_is_kept():
    assert safe_name("résumé 履歴書 📄.pdf") == "résumé 履歴書 📄.pdf"


def test_long_names_are_cut_on_a_character_boundary_keeping_the_extension():
    name = safe_name("履" * 300 + ".pdf")
    assert len(name.encode()) <= MAX_FILENAME_BYTES
    assert name.endswith(".pdf") and name.startswith("履")


def test_nothing_usable_left_gives_the_fallback():
    assert safe_name("../..//") == FALLBACK_NAME


@given(st.text(min_size=1, max_size=400))
def test_any_name_gives_one_bounded_key_segment(declared):
    name = safe_name(declared)
    assert name and "/" not in name and "\\" not in name and ".." not in name
    assert len(name.encode("utf-8")) <= MAX_FILENAME_BYTES


@pytest.mark.parametrize("declared", [".", "...", ".....", " . ", "./.", "\u202e.\u202e", ".. ."])
def test_names_of_dots_alone_give_the_fallback(declared):
    assert safe_name(declared) == FALLBACK_NAME


# Dots, separators, spaces and invisible characters, the parts of a name that
# stripping rearranges, mixed with arbitrary text.
_HOSTILE_NAMES = st.text(alphabet=st.sampled_from("./\\ \u202e\x00a"), min_size=1, max_size=40) | st.text(min_size=1)


@given(_HOSTILE_NAMES)
def test_a_key_ending_in_any_safe_name_survives_browser_dot_segment_removal(declared):
    name = safe_name(declared)
    assert name.strip(".") and "/" not in name and "\\" not in name
    key = f"/incoming/owner-1/file-1/{name}"
    assert posixpath.normpath(key) == key


def test_disposition_is_an_attachment_with_an_rfc_6266_name():
    assert attachment_disposition('a "b" é.svg') == (
        "attachment; filename=\"a _b_ _.svg\"; filename*=UTF-8''a%20%22b%22%20%C3%A9.svg"
    )
