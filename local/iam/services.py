"""The IAM action(s) and resource(s) of each non-S3 call the local stack
serves, computed from the call's own parameters.

For these services an operation's IAM action is the operation's name under the
service's prefix, except where noted; what differs per operation is which
resources it names. Sources:

- DynamoDB: "Using IAM with DynamoDB transactions"
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html):
  each Put, Update, Delete and Get of a transaction is authorized as PutItem,
  UpdateItem, DeleteItem or GetItem on its own table, a ConditionCheck as
  ConditionCheckItem, with `dynamodb:EnclosingOperation` set to the
  transaction. A Query or Scan of an index is on `table/<t>/index/<i>`.
  BatchWriteItem and BatchGetItem are their own actions, on each table.
- SQS (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html):
  the batch operations are authorized as their single forms (SendMessage,
  DeleteMessage, ChangeMessageVisibility), on the queue the QueueUrl names. A
  message-move task needs StartMessageMoveTask, ReceiveMessage, DeleteMessage
  and GetQueueAttributes on its source and SendMessage on its destination
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html).
- SSM: a parameter's ARN is `parameter` followed by its name (with a `/`
  between when the name does not start with one).
- Cognito user pools: the pool's ARN, for every operation that names a pool.
- CloudWatch: alarms by name; the reads that span every alarm or metric
  (DescribeAlarms, GetMetricStatistics, ...) on `*`, which is also what a
  policy must grant them
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/permissions-reference-cw.html).
- DynamoDB Streams: a stream's ARN (`<table arn>/stream/<label>`); a shard
  iterator starts with the ARN of the stream it reads, before a `|`
  ("GetShardIterator" in the DynamoDB Streams API reference shows one).
- EventBridge: PutEvents on each entry's bus (its name or ARN, `default`
  when none), a rule on `rule/<bus>/<name>` for a custom bus
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html).
- CloudWatch Logs: a log group's ARN with the trailing `:*` that "most API
  actions" are granted on (the LogGroup `arn` in the Logs API reference).
- STS GetCallerIdentity needs no permission.

An operation not listed here is refused by the front, never let through.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from local.iam.authority import Check


class Unclassified(Exception):
    """A call whose IAM action or resources this module cannot name."""


@dataclass(frozen=True)
class Where:
    region: str
    account: str


def _required(params: Mapping[str, Any], name: str) -> Any:
    if name not in params:
        raise Unclassified(f"no {name} in the request")
    return params[name]


# --- DynamoDB ---------------------------------------------------------------------------------------


def _table(name: str, where: Where) -> str:
    return name if name.startswith("arn:") else f"arn:aws:dynamodb:{where.region}:{where.account}:table/{name}"


def _on_table(operation: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        return [Check(f"dynamodb:{operation}", _table(_required(params, "TableName"), where))]
    return resolve


def _read_table_or_index(operation: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        table = _table(_required(params, "TableName"), where)
        index = params.get("IndexName")
        return [Check(f"dynamodb:{operation}", f"{table}/index/{index}" if index else table)]
    return resolve


_TRANSACTION_ACTIONS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
                        "ConditionCheck": "dynamodb:ConditionCheckItem", "Get": "dynamodb:GetItem"}


def _transaction(operation: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        found: dict[tuple[str, str], Check] = {}
        for item in _required(params, "TransactItems"):
            if not isinstance(item, Mapping) or len(item) != 1:
                raise Unclassified(f"a {operation} item is not one action")
            ((kind, action),) = item.items()
            if kind not in _TRANSACTION_ACTIONS:
                raise Unclassified(f"unknown {operation} action {kind}")
            check = Check(_TRANSACTION_ACTIONS[kind], _table(_required(action, "TableName"), where),
                          {"dynamodb:EnclosingOperation": operation})
            found.setdefault((check.action, check.resource), check)
        return list(found.values())
    return resolve


def _batch(operation: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        return [Check(f"dynamodb:{operation}", _table(table, where)) for table in _required(params, "RequestItems")]
    return resolve


def _anything(action: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    return lambda params, where: [Check(action, "*")]


_DYNAMODB = {
    **{op: _on_table(op) for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable", "CreateTable",
                                    "DeleteTable", "UpdateTable", "UpdateTimeToLive", "DescribeTimeToLive",
                                    "DescribeContinuousBackups", "UpdateContinuousBackups")},
    "Query": _read_table_or_index("Query"),
    "Scan": _read_table_or_index("Scan"),
    "TransactWriteItems": _transaction("TransactWriteItems"),
    "TransactGetItems": _transaction("TransactGetItems"),
    "BatchWriteItem": _batch("BatchWriteItem"),
    "BatchGetItem": _batch("BatchGetItem"),
    "ListTables": _anything("dynamodb:ListTables"),
}

# --- SQS -----------------------------------------------------------------------------------------------


def _queue_from_url(url: str, where: Where) -> str:
    parts = [part for part in urlsplit(url).path.split("/") if part]
    if len(parts) != 2 or not parts[0].isdigit():
        raise Unclassified(f"{url!r} is not a queue URL")
    account, name = parts
    return f"arn:aws:sqs:{where.region}:{account}:{name}"


def _on_queue(action: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        return [Check(f"sqs:{action}", _queue_from_url(_required(params, "QueueUrl"), where))]
    return resolve


def _named_queue(action: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        account = params.get("QueueOwnerAWSAccountId") or where.account
        return [Check(f"sqs:{action}", f"arn:aws:sqs:{where.region}:{account}:{_required(params, 'QueueName')}")]
    return resolve


def _start_move(params, where) -> list[Check]:
    source = _required(params, "SourceArn")
    found = [Check(f"sqs:{action}", source) for action in
             ("StartMessageMoveTask", "ReceiveMessage", "DeleteMessage", "GetQueueAttributes")]
    destination = params.get("DestinationArn")
    if destination:
        found.append(Check("sqs:SendMessage", destination, note="move task destination"))
    return found


def _cancel_move(params, where) -> list[Check]:
    handle = _required(params, "TaskHandle")
    try:
        source = json.loads(base64.b64decode(handle + "=" * (-len(handle) % 4)))["sourceArn"]
    except (ValueError, KeyError, TypeError):
        raise Unclassified("the TaskHandle names no source queue") from None
    return [Check("sqs:CancelMessageMoveTask", source)]


_SQS = {
    **{op: _on_queue(op) for op in ("GetQueueAttributes", "SetQueueAttributes", "ReceiveMessage", "DeleteMessage",
                                    "ChangeMessageVisibility", "SendMessage", "PurgeQueue", "DeleteQueue", "TagQueue",
                                    "UntagQueue", "ListQueueTags", "ListDeadLetterSourceQueues", "AddPermission",
                                    "RemovePermission")},
    "SendMessageBatch": _on_queue("SendMessage"),
    "DeleteMessageBatch": _on_queue("DeleteMessage"),
    "ChangeMessageVisibilityBatch": _on_queue("ChangeMessageVisibility"),
    "CreateQueue": _named_queue("CreateQueue"),
    "GetQueueUrl": _named_queue("GetQueueUrl"),
    "ListQueues": _anything("sqs:ListQueues"),
    "StartMessageMoveTask": _start_move,
    "ListMessageMoveTasks": lambda params, where: [Check("sqs:ListMessageMoveTasks", _required(params, "SourceArn"))],
    "CancelMessageMoveTask": _cancel_move,
}

# --- SSM -----------------------------------------------------------------------------------------------


def _parameter(name: str, where: Where) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:ssm:{where.region}:{where.account}:parameter{name if name.startswith('/') else '/' + name}"


def _on_parameter(action: str, field: str = "Name") -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        return [Check(f"ssm:{action}", _parameter(_required(params, field), where))]
    return resolve


def _on_parameters(action: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        return [Check(f"ssm:{action}", _parameter(name, where)) for name in _required(params, "Names")]
    return resolve


_SSM = {
    **{op: _on_parameter(op) for op in ("GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory",
                                        "LabelParameterVersion")},
    "GetParameters": _on_parameters("GetParameters"),
    "DeleteParameters": _on_parameters("DeleteParameters"),
    "GetParametersByPath": _on_parameter("GetParametersByPath", "Path"),
    "DescribeParameters": _anything("ssm:DescribeParameters"),
}

# --- Secrets Manager --------------------------------------------------------------------------------


def _on_secret(action: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    """IAM names a secret by its full ARN, random suffix included, which a
    call by name does not give: only calls by ARN are classified."""
    def resolve(params, where):
        secret = _required(params, "SecretId")
        if not secret.startswith("arn:"):
            raise Unclassified(f"secretsmanager:{action} by name: IAM checks the secret's ARN, whose suffix the "
                               "local front cannot know; call it by ARN")
        return [Check(f"secretsmanager:{action}", secret)]
    return resolve


_SECRETS_MANAGER = {
    "CreateSecret": lambda params, where: [Check(
        "secretsmanager:CreateSecret",
        f"arn:aws:secretsmanager:{where.region}:{where.account}:secret:{_required(params, 'Name')}-*")],
    **{op: _on_secret(op) for op in ("GetSecretValue", "DescribeSecret", "PutSecretValue", "DeleteSecret")},
}

# --- Cognito user pools -----------------------------------------------------------------------------------


def _cognito(operation: str, params: Mapping[str, Any], where: Where) -> list[Check]:
    if "UserPoolId" in params:
        return [Check(f"cognito-idp:{operation}",
                      f"arn:aws:cognito-idp:{where.region}:{where.account}:userpool/{params['UserPoolId']}")]
    if operation in ("CreateUserPool", "ListUserPools"):
        return [Check(f"cognito-idp:{operation}", "*")]
    raise Unclassified("it names no user pool")


# --- CloudWatch -------------------------------------------------------------------------------------------


def _alarm(name: str, where: Where) -> str:
    return f"arn:aws:cloudwatch:{where.region}:{where.account}:alarm:{name}"


def _on_alarm(action: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        return [Check(f"cloudwatch:{action}", _alarm(_required(params, "AlarmName"), where))]
    return resolve


def _on_alarms(action: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        return [Check(f"cloudwatch:{action}", _alarm(name, where)) for name in _required(params, "AlarmNames")]
    return resolve


_CLOUDWATCH = {
    **{op: _anything(f"cloudwatch:{op}") for op in ("DescribeAlarms", "DescribeAlarmsForMetric",
                                                    "GetMetricStatistics", "GetMetricData", "ListMetrics",
                                                    "PutMetricData")},
    "PutMetricAlarm": _on_alarm("PutMetricAlarm"),
    "SetAlarmState": _on_alarm("SetAlarmState"),
    "DescribeAlarmHistory": lambda params, where: [Check(
        "cloudwatch:DescribeAlarmHistory", _alarm(params["AlarmName"], where) if "AlarmName" in params else "*")],
    "DeleteAlarms": _on_alarms("DeleteAlarms"),
    "EnableAlarmActions": _on_alarms("EnableAlarmActions"),
    "DisableAlarmActions": _on_alarms("DisableAlarmActions"),
}

# --- DynamoDB Streams -------------------------------------------------------------------------------------


def _on_stream(action: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        return [Check(f"dynamodb:{action}", _required(params, "StreamArn"))]
    return resolve


def _records(params, where) -> list[Check]:
    stream, separator, _ = str(_required(params, "ShardIterator")).partition("|")
    if not separator or not stream.startswith("arn:aws:dynamodb:"):
        raise Unclassified("the shard iterator names no stream")
    return [Check("dynamodb:GetRecords", stream)]


_DYNAMODB_STREAMS = {
    "DescribeStream": _on_stream("DescribeStream"),
    "GetShardIterator": _on_stream("GetShardIterator"),
    "GetRecords": _records,
    "ListStreams": _anything("dynamodb:ListStreams"),
}

# --- EventBridge -------------------------------------------------------------------------------------------


def _bus(name: str, where: Where) -> str:
    return name if name.startswith("arn:") else f"arn:aws:events:{where.region}:{where.account}:event-bus/{name}"


def _put_events(params, where) -> list[Check]:
    buses = {_bus(entry.get("EventBusName") or "default", where) for entry in _required(params, "Entries")}
    return [Check("events:PutEvents", bus) for bus in sorted(buses)]


def _on_rule(action: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        bus = params.get("EventBusName") or "default"
        bus = bus.rsplit("/", 1)[-1]
        name = _required(params, "Name" if "Name" in params else "Rule")
        path = name if bus == "default" else f"{bus}/{name}"
        return [Check(f"events:{action}", f"arn:aws:events:{where.region}:{where.account}:rule/{path}")]
    return resolve


_EVENTS = {
    "PutEvents": _put_events,
    "CreateEventBus": lambda params, where: [Check("events:CreateEventBus", _bus(_required(params, "Name"), where))],
    "DeleteEventBus": lambda params, where: [Check("events:DeleteEventBus", _bus(_required(params, "Name"), where))],
    "DescribeEventBus": lambda params, where: [Check("events:DescribeEventBus",
                                                     _bus(params.get("Name") or "default", where))],
    **{op: _on_rule(op) for op in ("PutRule", "DeleteRule", "DescribeRule", "PutTargets", "RemoveTargets",
                                   "ListTargetsByRule")},
}

# --- CloudWatch Logs ---------------------------------------------------------------------------------------


def _on_log_group(action: str) -> Callable[[Mapping[str, Any], Where], list[Check]]:
    def resolve(params, where):
        name = params.get("logGroupName") or _required(params, "logGroupIdentifier")
        group = name if name.startswith("arn:") else \
            f"arn:aws:logs:{where.region}:{where.account}:log-group:{name}"
        return [Check(f"logs:{action}", f"{group.removesuffix(':*')}:*")]
    return resolve


_LOGS = {op: _on_log_group(op) for op in ("CreateLogGroup", "DeleteLogGroup", "FilterLogEvents",
                                          "PutRetentionPolicy")}

_RESOLVERS: dict[str, Mapping[str, Callable[[Mapping[str, Any], Where], list[Check]]]] = {
    "dynamodb": _DYNAMODB,
    "dynamodbstreams": _DYNAMODB_STREAMS,
    "events": _EVENTS,
    "logs": _LOGS,
    "sqs": _SQS,
    "ssm": _SSM,
    "secretsmanager": _SECRETS_MANAGER,
    "cloudwatch": _CLOUDWATCH,
    "sts": {"GetCallerIdentity": lambda params, where: []},
    # An account-level action with no resource type (GuardDuty API reference,
    # SendObjectMalwareScan): IAM can only grant it on "*".
    "guardduty": {"SendObjectMalwareScan": _anything("guardduty:SendObjectMalwareScan")},
}


def checks(service: str, operation: str, params: Mapping[str, Any], where: Where) -> list[Check]:
    """The IAM checks one call makes (none: it needs no permission)."""
    if service == "cognito-idp":
        return _cognito(operation, params, where)
    resolver = _RESOLVERS.get(service, {}).get(operation)
    if resolver is None:
        raise Unclassified(f"{service}:{operation} is not listed in local/iam/services.py")
    return resolver(params, where)
