"""Parquet: schema, row count, row groups, codecs, writer and metadata keys,
from the footer alone.

A Parquet file ends with its footer (a Thrift `FileMetaData`), the footer's
length (4 bytes, little-endian) and `PAR1`. Describing reads those 8 bytes,
then the footer by one ranged read; no page of column data is touched.
Apache Thrift's runtime decodes the footer (in C, its extension being built
into the wheel) against the declarations below: the fields this module
reports, with their ids and types as parquet-format's `parquet.thrift`
defines them. Every field not declared (statistics, encodings, page
indexes, encryption) is skipped without being built, and the runtime bounds
container lengths and nesting. docs/kinds.md compares this with pyarrow and
fastparquet.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
from typing import Any

from workers.errors import FileRejected
from workers.extraction.columns import MAX_COLUMNS, MAX_NAME_CHARS
from workers.extraction.limits import ExtractBudget, MiB
from workers.extraction.registry import Source, extractor
from workers.extraction.sniff import Magic

MAGIC = b"PAR1"
# A footer bigger than this is refused before it is read. Real footers cost
# about their own size once decoded (the statistics that make most of them
# are skipped); the worst, a byte per empty struct, about 50 times it, which
# this cap keeps inside the kind's memory budget.
MAX_FOOTER_BYTES = 3 * MiB
# Elements in one Thrift list: the schema, the row groups, one group's columns.
MAX_LIST_LENGTH = 1_000_000
# Schema nesting (groups within groups) that the flattening follows.
MAX_DEPTH = 64
_MAX_KEYS = 50

# The enums of parquet.thrift, by value.
_PHYSICAL = ("BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY")
_REPETITION = ("REQUIRED", "OPTIONAL", "REPEATED")
_CODECS = ("UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW")
_CONVERTED = ("UTF8", "MAP", "MAP_KEY_VALUE", "LIST", "ENUM", "DECIMAL", "DATE", "TIME_MILLIS", "TIME_MICROS",
              "TIMESTAMP_MILLIS", "TIMESTAMP_MICROS", "UINT_8", "UINT_16", "UINT_32", "UINT_64", "INT_8",
              "INT_16", "INT_32", "INT_64", "JSON", "BSON", "INTERVAL")
# LogicalType's members by field id; 9 is reserved.
_LOGICAL = {1: "STRING", 2: "MAP", 3: "LIST", 4: "ENUM", 5: "DECIMAL", 6: "DATE", 7: "TIME", 8: "TIMESTAMP",
            10: "INTEGER", 11: "UNKNOWN", 12: "JSON", 13: "BSON", 14: "UUID", 15: "FLOAT16", 16: "VARIANT",
            17: "GEOMETRY", 18: "GEOGRAPHY", 19: "FILE"}


@functools.cache
def _footer_type() -> type:
    """`FileMetaData` as far as this module reads it, declared the way
    Thrift's `py:dynamic` generator declares structs."""
    from thrift.protocol.TBase import TBase
    from thrift.Thrift import TType
    from thrift.TRecursive import fix_spec

    declared = []

    def struct_type(name: str, *fields: tuple) -> type:
        slots = [field[1] for field in fields]
        spec: list[tuple | None] = [None] * (max((field[0] for field in fields), default=0) + 1)
        for field_id, field_name, field_type, arguments in fields:
            spec[field_id] = (field_id, field_type, field_name, arguments, None)

        # Thrift's C decoder builds each struct by calling it with the fields
        # present; a dataclass's __init__ takes them as plain parameters, the
        # fastest way there is (a footer may hold a million structs).
        made = dataclasses.make_dataclass(name, [(slot, Any, None) for slot in slots], bases=(TBase,),
                                          namespace={"thrift_spec": tuple(spec)}, slots=True, eq=False, repr=False)
        declared.append(made)
        return made

    def one(kind: type) -> list:
        return [kind, None]

    def many(kind: type) -> tuple:
        return (TType.STRUCT, [kind, None], False)

    empty = struct_type("Empty")
    unit = struct_type("TimeUnit", *((field_id, name, TType.STRUCT, one(empty))
                                     for field_id, name in ((1, "MILLIS"), (2, "MICROS"), (3, "NANOS"))))
    instant = struct_type("InstantType", (1, "isAdjustedToUTC", TType.BOOL, None), (2, "unit", TType.STRUCT, one(unit)))
    members = {5: struct_type("DecimalType", (1, "scale", TType.I32, None), (2, "precision", TType.I32, None)),
               7: instant, 8: instant,
               10: struct_type("IntType", (1, "bitWidth", TType.BYTE, None), (2, "isSigned", TType.BOOL, None))}
    logical = struct_type("LogicalType", *((field_id, name, TType.STRUCT, one(members.get(field_id, empty)))
                                           for field_id, name in _LOGICAL.items()))
    element = struct_type("SchemaElement",
                          (1, "type", TType.I32, None), (2, "type_length", TType.I32, None),
                          (3, "repetition_type", TType.I32, None), (4, "name", TType.STRING, "UTF8"),
                          (5, "num_children", TType.I32, None), (6, "converted_type", TType.I32, None),
                          (7, "scale", TType.I32, None), (8, "precision", TType.I32, None),
                          (10, "logicalType", TType.STRUCT, one(logical)))
    chunk_metadata = struct_type("ColumnMetaData", (4, "codec", TType.I32, None))
    chunk = struct_type("ColumnChunk", (3, "meta_data", TType.STRUCT, one(chunk_metadata)))
    group = struct_type("RowGroup", (1, "columns", TType.LIST, many(chunk)), (3, "num_rows", TType.I64, None))
    pair = struct_type("KeyValue", (1, "key", TType.STRING, "UTF8"))
    footer = struct_type("FileMetaData",
                         (1, "version", TType.I32, None), (2, "schema", TType.LIST, many(element)),
                         (3, "num_rows", TType.I64, None), (4, "row_groups", TType.LIST, many(group)),
                         (5, "key_value_metadata", TType.LIST, many(pair)),
                         (6, "created_by", TType.STRING, "UTF8"))
    fix_spec(declared)
    return footer


def _thrift() -> None:
    """Everything describing imports: only a Parquet file pays for it."""
    import thrift.protocol.TCompactProtocol
    import thrift.transport.TTransport  # noqa: F401

    _footer_type()


@extractor("parquet", signatures=(Magic("application/vnd.apache.parquet", {0: MAGIC}),),
           budget=ExtractBudget(fetch_bytes=MAX_FOOTER_BYTES + 2 * MiB, memory_bytes=224 * MiB),
           library=_thrift)
def describe(source: Source) -> dict:
    footer = _decode(_footer_bytes(source))
    source.deadline.check()
    columns, count = _leaf_columns(footer.schema)
    codecs = {_name(_CODECS, chunk.meta_data.codec) for group in footer.row_groups for chunk in group.columns or []
              if chunk.meta_data and chunk.meta_data.codec is not None}
    return {
        "rows": footer.num_rows,
        "rowGroups": len(footer.row_groups),
        "columns": [column["name"] for column in columns],
        "columnCount": count,
        "columnTypes": columns,
        "compression": sorted(codecs),
        "createdBy": (footer.created_by or "")[:MAX_NAME_CHARS] or None,
        "metadataKeys": [(pair.key or "")[:MAX_NAME_CHARS] for pair in (footer.key_value_metadata or [])[:_MAX_KEYS]],
        "formatVersion": footer.version,
    }


def _footer_bytes(source: Source) -> bytes:
    if source.size < 2 * len(MAGIC) + 4:
        raise FileRejected("corrupt", "The file is too short to be Parquet")
    source.stream.seek(-8, 2)
    length, magic = struct.unpack("<I4s", source.stream.read(8))
    if magic != MAGIC:
        raise FileRejected("corrupt", "The file does not end with PAR1: it is cut short or not Parquet")
    if length > source.size - 2 * len(MAGIC) - 4:
        raise FileRejected("corrupt", f"The footer claims {length} bytes, more than the file holds")
    if length > MAX_FOOTER_BYTES:
        raise FileRejected("too_large", f"The footer is {length} bytes, over the {MAX_FOOTER_BYTES}-byte limit")
    source.stream.seek(-8 - length, 2)
    return source.stream.read(length)


def _decode(data: bytes):
    from thrift.protocol.TCompactProtocol import TCompactProtocolAccelerated
    from thrift.Thrift import TException
    from thrift.transport.TTransport import TMemoryBuffer

    footer = _footer_type()()
    protocol = TCompactProtocolAccelerated(TMemoryBuffer(data), string_length_limit=len(data),
                                           container_length_limit=MAX_LIST_LENGTH)
    try:
        footer.read(protocol)
    except (TException, EOFError, ValueError, TypeError, OverflowError) as error:
        raise FileRejected("corrupt", f"The footer does not decode: {error}"[:300]) from error
    if footer.schema is None or footer.num_rows is None or footer.row_groups is None:
        raise FileRejected("corrupt", "The footer lacks its schema, row count or row groups")
    return footer


def _leaf_columns(schema: list) -> tuple[list[dict], int]:
    """The first leaves of the schema tree, named by their dotted paths, and
    how many leaves there are. The tree is stored depth-first, each group
    followed by its `num_children` children; the root (the first element) is
    not part of any path."""
    if not schema:
        raise FileRejected("corrupt", "The footer's schema is empty")
    leaves: list[dict] = []
    count = 0
    # Per open group: its path, whether a value on it may be null, children left.
    open_groups: list[tuple[tuple[str, ...], bool, int]] = [((), False, schema[0].num_children or 0)]
    for element in schema[1:]:
        while open_groups and open_groups[-1][2] == 0:
            open_groups.pop()
        if not open_groups:
            raise FileRejected("corrupt", "The schema has more elements than its groups hold")
        path, nullable, left = open_groups[-1]
        open_groups[-1] = (path, nullable, left - 1)
        path = (*path, element.name or "")
        nullable = nullable or element.repetition_type == 1
        if element.num_children:
            if len(open_groups) >= MAX_DEPTH:
                raise FileRejected("too_large", f"The schema nests deeper than {MAX_DEPTH} levels")
            open_groups.append((path, nullable, element.num_children))
        else:
            count += 1
            if len(leaves) < MAX_COLUMNS:
                leaves.append(_leaf(element, path, nullable))
    if any(left for _, _, left in open_groups):
        raise FileRejected("corrupt", "The schema ends before its groups' children do")
    return leaves, count


def _leaf(element, path: tuple[str, ...], nullable: bool) -> dict:
    physical = _name(_PHYSICAL, element.type)
    logical = _logical(element)
    return {"name": ".".join(path)[:MAX_NAME_CHARS], "type": logical or physical, "physicalType": physical,
            "logicalType": logical, "repetition": _name(_REPETITION, element.repetition_type),
            "nullable": nullable}


def _logical(element) -> str | None:
    """The logical type as parquet-format writes it (`TIMESTAMP(MICROS, UTC)`),
    else the legacy converted type, else None."""
    annotation = element.logicalType
    chosen = next((field_id for field_id in _LOGICAL if annotation and getattr(annotation, _LOGICAL[field_id])),
                  None)
    if chosen is None:
        return _name(_CONVERTED, element.converted_type) if element.converted_type is not None else None
    name = _LOGICAL[chosen]
    value = getattr(annotation, name)
    if name == "DECIMAL":
        return f"DECIMAL({value.precision}, {value.scale})"
    if name in ("TIME", "TIMESTAMP"):
        unit = next((unit for unit in ("MILLIS", "MICROS", "NANOS") if value.unit and getattr(value.unit, unit)),
                    "?")
        return f"{name}({unit}{', UTC' if value.isAdjustedToUTC else ''})"
    if name == "INTEGER":
        return f"{'INT' if value.isSigned else 'UINT'}({value.bitWidth})"
    return name


def _name(names: tuple[str, ...], value: int | None) -> str | None:
    if value is None:
        return None
    return names[value] if 0 <= value < len(names) else f"UNKNOWN({value})"
