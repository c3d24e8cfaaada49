import pytest

from workers.extraction.columns import Column, json_type, text_type


@pytest.mark.parametrize(("cell", "expected"), [
    ("0", "integer"), ("-20", "integer"), ("+5", "integer"), ("007", "string"),
    ("1.5", "number"), ("2e3", "number"), (".5", "number"), ("-1.25E-3", "number"),
    ("1.", "string"), (".", "string"), ("e5", "string"), ("inf", "string"), ("NaN", "string"),
    ("TRUE", "boolean"), ("no", "boolean"), ("y", "string"),
    ("2024-05-17", "date"), ("2023-02-29", "string"), ("2024-5-17", "string"),
    ("2024-05-17T10:42", "datetime"), ("2024-05-17 10:42:00.123Z", "datetime"),
    ("2024-05-17T10:42:00+02:00", "datetime"), ("2024-05-17T25:00", "string"),
    ("", None), ("  ", None), ("NULL", None), ("n/a", None), ("None", None),
    ("1" * 65, "string"),
])
def test_a_text_cell_is_typed_by_its_spelling(cell, expected):
    assert text_type(cell) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), (True, "boolean"), (3, "integer"), (3.0, "number"), ("12", "string"),
    ("2024-05-17", "date"), ([1], "array"), ({"a": 1}, "object"),
])
def test_a_json_value_is_typed_by_its_own_type(value, expected):
    assert json_type(value) == expected


@pytest.mark.parametrize(("types", "expected"), [
    (["integer", "integer"], "integer"), (["integer", "number"], "number"), (["date", "datetime"], "datetime"),
    (["integer", "date"], "string"), (["boolean", None], "boolean"), ([None, None], None),
])
def test_a_column_takes_the_narrowest_type_its_values_share(types, expected):
    column = Column("c")
    for kind in types:
        column.add(kind)
    assert (column.type, column.nulls) == (expected, types.count(None))
