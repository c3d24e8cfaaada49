"""Parquet from its footer: files pyarrow writes with a known schema come back
with exactly that schema, and footers built by hand to lie fail with a code."""

import datetime
import decimal
import os
import struct
import tracemalloc

import pyarrow as pa
import pytest

from tests.extractors import files
from tests.invocation import extract
from tests.workers import hostile
from workers.extraction import registry
from workers.extraction.kinds import parquet

PARQUET = "application/vnd.apache.parquet"


def known_table(rows: int = 10) -> pa.Table:
    return pa.table({
        "id": pa.array(range(rows), pa.int64()),
        "name": pa.array([None if i % 3 == 0 else f"n{i}" for i in range(rows)], pa.string()),
        "price": pa.array([decimal.Decimal("1.25")] * rows, pa.decimal128(10, 2)),
        "at": pa.array([datetime.datetime(2024, 5, 17)] * rows, pa.timestamp("ms", tz="UTC")),
        "day": pa.array([datetime.date(2024, 5, 17)] * rows, pa.date32()),
        "small": pa.array([1] * rows, pa.uint8()),
        "ok": pa.array([True] * rows, pa.bool_()),
        "tags": pa.array([["x"]] * rows, pa.list_(pa.string())),
        "point": pa.array([{"x": 1.0, "y": 2.0}] * rows, pa.struct([("x", pa.float64()), ("y", pa.float64())])),
    }, schema=pa.schema([
        pa.field("id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("price", pa.decimal128(10, 2)),
        pa.field("at", pa.timestamp("ms", tz="UTC")),
        pa.field("day", pa.date32()),
        pa.field("small", pa.uint8()),
        pa.field("ok", pa.bool_()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("point", pa.struct([("x", pa.float64()), ("y", pa.float64())]), nullable=False),
    ], metadata={"owner": "data-team"}))


def test_a_written_file_comes_back_with_its_schema_rows_groups_and_codec(store):
    body = files.parquet(known_table(1000), row_group_size=300, compression="zstd")
    extraction = extract(store(body, PARQUET))
    metadata = extraction.metadata
    assert (metadata["kind"], metadata["sniffedType"]) == ("parquet", PARQUET)
    assert (metadata["rows"], metadata["rowGroups"], metadata["compression"]) == (1000, 4, ["ZSTD"])
    assert metadata["createdBy"].startswith("parquet-cpp-arrow")
    assert metadata["metadataKeys"] == ["owner", "ARROW:schema"]
    types = {column["name"]: (column["physicalType"], column["logicalType"], column["nullable"])
             for column in metadata["columnTypes"]}
    assert types == {
        "id": ("INT64", None, False),
        "name": ("BYTE_ARRAY", "STRING", True),
        "price": ("FIXED_LEN_BYTE_ARRAY", "DECIMAL(10, 2)", True),
        "at": ("INT64", "TIMESTAMP(MILLIS, UTC)", True),
        "day": ("INT32", "DATE", True),
        "small": ("INT32", "UINT(8)", True),
        "ok": ("BOOLEAN", None, True),
        "tags.list.element": ("BYTE_ARRAY", "STRING", True),
        "point.x": ("DOUBLE", None, True),
        "point.y": ("DOUBLE", None, True),
    }
    assert metadata["columns"] == list(types)
    assert metadata["columnCount"] == 10


def test_sniffing_judges_the_bytes_not_the_declared_type(store):
    assert extract(store(files.parquet(known_table()), "application/octet-stream")).metadata["kind"] == "parquet"
    assert extract(store(b"a,b\r\n1,2\r\n", PARQUET)).metadata["kind"] == "csv"


def test_a_required_leaf_under_a_required_group_is_not_nullable(store):
    schema = pa.schema([pa.field("point", pa.struct([pa.field("x", pa.float64(), nullable=False)]),
                                 nullable=False)])
    table = pa.table({"point": pa.array([{"x": 1.0}], schema[0].type)}, schema=schema)
    column = extract(store(files.parquet(table), PARQUET)).metadata["columnTypes"][0]
    assert (column["name"], column["repetition"], column["nullable"]) == ("point.x", "REQUIRED", False)


@pytest.mark.parametrize("codec", ["snappy", "gzip", "none"])
def test_the_codec_of_each_column_chunk_is_reported(store, codec):
    body = files.parquet(known_table(), compression=codec)
    assert extract(store(body, PARQUET)).metadata["compression"] == [
        {"snappy": "SNAPPY", "gzip": "GZIP", "none": "UNCOMPRESSED"}[codec]]


def test_a_large_file_is_described_from_its_end_in_a_few_reads(store):
    body = files.parquet(pa.table({"blob": pa.array([os.urandom(50_000) for _ in range(200)])}),
                         compression="none", row_group_size=20)
    assert len(body) > 10_000_000
    extraction = extract(store(body, PARQUET))
    assert (extraction.metadata["rows"], extraction.metadata["rowGroups"]) == (200, 10)
    # The sniffing head, the trailer's block, and the footer (inside that block).
    assert extraction.reads.bytes_fetched < 1024 * 1024


def test_a_file_cut_short_fails_as_corrupt(rejection):
    body = files.parquet(known_table())
    assert rejection(body[: len(body) // 2], PARQUET).code == "corrupt"


def test_a_footer_length_past_the_file_fails_as_corrupt(rejection):
    body = files.parquet(known_table())
    lying = body[:-8] + struct.pack("<I", len(body) * 10) + b"PAR1"
    rejected = rejection(lying, PARQUET)
    assert (rejected.code, "more than the file holds" in rejected.message) == ("corrupt", True)


def test_a_huge_footer_is_refused_before_it_is_read(rejection, monkeypatch):
    monkeypatch.setattr(parquet, "MAX_FOOTER_BYTES", 64 * 1024)
    body = files.parquet_footer(b"\x00" * (128 * 1024))
    rejected = rejection(body, PARQUET)
    assert (rejected.code, "limit" in rejected.message) == ("too_large", True)


def test_a_footer_of_noise_fails_as_corrupt(rejection):
    assert rejection(files.parquet_footer(bytes(range(256)) * 4), PARQUET).code == "corrupt"


def test_deep_thrift_nesting_fails_as_corrupt(rejection):
    assert rejection(hostile.parquet_nested_thrift(10_000), PARQUET).code == "corrupt"


def test_a_list_claiming_more_elements_than_the_limit_fails_as_corrupt(rejection):
    assert rejection(hostile.parquet_claiming_list(), PARQUET).code == "corrupt"


def test_the_worst_footer_the_size_cap_admits_stays_within_the_memory_budget(store):
    """A byte per decoded object is the most a footer can ask for; measured
    on a quarter of a megabyte of it (traced, a whole megabyte can outlast
    the time budget on a busy machine), then scaled to the cap."""
    obj = store(files.parquet_chunk_bomb(250_000), PARQUET)
    tracemalloc.start()
    try:
        metadata = extract(obj).metadata
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    at_cap = peak * parquet.MAX_FOOTER_BYTES / obj.size
    print(f"\nchunk bomb: peak {peak / 2**20:.1f} MiB for {obj.size} bytes, {at_cap / 2**20:.0f} MiB at the cap")
    assert (metadata["rowGroups"], metadata["columns"], metadata["compression"]) == (1, ["a"], [])
    assert at_cap < registry.kind("parquet").budget.memory_bytes


def encoded_footer(schema: list[dict], rows: int = 0) -> bytes:
    """A FileMetaData with `schema` (SchemaElement fields by name) and no row
    groups, in Thrift's compact protocol as Thrift writes it."""
    from thrift.protocol.TCompactProtocol import TCompactProtocol
    from thrift.transport.TTransport import TMemoryBuffer

    footer_type = parquet._footer_type()
    element_type = footer_type.thrift_spec[2][3][1][0]
    footer = footer_type(version=1, schema=[element_type(**element) for element in schema], num_rows=rows,
                         row_groups=[])
    buffer = TMemoryBuffer()
    footer.write(TCompactProtocol(buffer))
    return buffer.getvalue()


def nested(depth: int) -> list[dict]:
    """A root, then groups each holding the next, then one INT32 leaf."""
    return ([{"name": "root", "num_children": 1}]
            + [{"name": f"g{level}", "num_children": 1, "repetition_type": 1} for level in range(depth)]
            + [{"name": "leaf", "type": 1, "repetition_type": 0}])


def test_a_hand_built_footer_reads_as_its_schema_says(store):
    metadata = extract(store(files.parquet_footer(encoded_footer(nested(3), rows=7)), PARQUET)).metadata
    assert (metadata["rows"], metadata["columns"], metadata["rowGroups"]) == (7, ["g0.g1.g2.leaf"], 0)
    assert metadata["columnTypes"][0]["nullable"] is True


def test_a_wide_schema_keeps_its_first_columns_and_counts_them_all(store):
    schema = [{"name": "root", "num_children": 300}] + [{"name": f"c{i}", "type": 2} for i in range(300)]
    metadata = extract(store(files.parquet_footer(encoded_footer(schema)), PARQUET)).metadata
    assert (metadata["columnCount"], len(metadata["columnTypes"])) == (300, 200)
    assert metadata["columns"][-1] == "c199"


def test_schema_nesting_past_the_depth_limit_is_refused_as_too_large(rejection):
    rejected = rejection(files.parquet_footer(encoded_footer(nested(parquet.MAX_DEPTH + 1))), PARQUET)
    assert (rejected.code, "nests deeper" in rejected.message) == ("too_large", True)


@pytest.mark.parametrize("schema", [
    [{"name": "root", "num_children": 3}, {"name": "a", "type": 1}],
    [{"name": "root", "num_children": 1}, {"name": "a", "type": 1}, {"name": "b", "type": 1}],
    [],
])
def test_a_schema_whose_counts_disagree_with_its_elements_fails_as_corrupt(rejection, schema):
    assert rejection(files.parquet_footer(encoded_footer(schema)), PARQUET).code == "corrupt"
