from hypothesis import given, strategies as st

from workers import settings
from workers.filenames import FALLBACK_NAME, attachment_disposition, safe_name


def test_separators_controls_and_dot_dot_are_stripped():
    assert safe_name("../a/b\\c\x00\x1f\u202e..d.txt") == "abcd.txt"


def test_dots_joined_by_stripping_are_stripped_too():
    assert ".." not in safe_name("a.../..b")


def test_unicode_is_kept():
    assert safe_name("résumé 履歴書 📄.pdf") == "résumé 履歴書 📄.pdf"


def test_long_names_are_cut_on_a_character_boundary_keeping_the_extension():
    name = safe_name("履" * 300 + ".pdf")
    assert len(name.encode()) <= settings.MAX_FILENAME_BYTES
    assert name.endswith(".pdf") and name.startswith("履")


def test_nothing_usable_left_gives_the_fallback():
    assert safe_name("../..//") == FALLBACK_NAME


@given(st.text(min_size=1, max_size=400))
def test_any_name_gives_one_bounded_key_segment(declared):
    name = safe_name(declared)
    assert name and "/" not in name and "\\" not in name and ".." not in name
    assert len(name.encode("utf-8")) <= settings.MAX_FILENAME_BYTES


def test_disposition_is_an_attachment_with_an_rfc_6266_name():
    assert attachment_disposition('a "b" é.svg') == (
        "attachment; filename=\"a _b_ _.svg\"; filename*=UTF-8''a%20%22b%22%20%C3%A9.svg"
    )
