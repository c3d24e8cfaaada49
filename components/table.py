"""The metadata table: one item per file, keyed and indexed exactly as
`contract/table.py` describes, so the handlers never Scan."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contract.events import STREAM_VIEW_TYPE
from contract.table import INDEXES, KEY_ATTRIBUTES, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE


@dataclass
class MetadataTableArgs:
    table_name: str
    deletion_protection: bool


class MetadataTable(pulumi.ComponentResource):
    table: aws.dynamodb.Table

    def __init__(self, name: str, args: MetadataTableArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:table:MetadataTable", name, None, opts)
        self.table = aws.dynamodb.Table(
            name,
            name=args.table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key=PARTITION_KEY,
            range_key=SORT_KEY,
            attributes=[{"name": attribute, "type": "S"} for attribute in KEY_ATTRIBUTES],
            # The attention index is sparse: only pending and failed items carry
            # its keys, so it stays small and on-call queries it across owners.
            global_secondary_indexes=[_index(index, *keys) for index, keys in INDEXES.items()],
            ttl={"attribute_name": TTL_ATTRIBUTE, "enabled": True},
            point_in_time_recovery={"enabled": True},
            # Each committed write, old and new image: the lifecycle events' source (components/events.py).
            stream_enabled=True,
            stream_view_type=STREAM_VIEW_TYPE,
            deletion_protection_enabled=args.deletion_protection,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"tableName": self.table.name, "tableArn": self.table.arn})


def _index(name: str, partition_key: str, sort_key: str) -> dict:
    return {
        "name": name,
        "key_schemas": [
            {"attribute_name": partition_key, "key_type": "HASH"},
            {"attribute_name": sort_key, "key_type": "RANGE"},
        ],
        "projection_type": "ALL",
    }
