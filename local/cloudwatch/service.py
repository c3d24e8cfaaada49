"""The local CloudWatch: the stack's metrics, its alarms evaluated as
CloudWatch evaluates them, and their notifications.

- Metrics arrive from the pieces that do the work: each function's EMF log
  lines (read from its log file, as CloudWatch Logs reads the function's
  output), the execution environments (Lambda's Invocations, Errors,
  Duration), the gateway (the HTTP API's Count, 4xx, 5xx, Latency) and the
  queues' depth and age, sampled once a minute as SQS publishes them. Each is
  kept here, raw, for the alarms, and sent to moto with PutMetricData, so
  GetMetricData and the ops CLI read them as on AWS.
- The alarms are contract/alarms.py's, put into moto as the program deploys
  them. One thread evaluates them on a timer (evaluation.py); a change of
  state is written to moto (describe_alarms, describe_alarm_history) and,
  as the alarm's action, published to the alarm topic, which delivers to the
  local on-call inbox (inbox.py).
- Clocks may be scaled: `scale` alarm-seconds pass per real second, so a
  5-minute period lasts 5 s at scale 60. Values (ages, durations) are never
  scaled, only the periods they fall into.

It calls moto directly: this is AWS's own work, not a caller's, so no
principal's policy applies."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import boto3

from contract.alarms import AlarmSpec, Insights, Metric, MetricMath
from contract.names import Names
from local.cloudwatch import emf, insights, metric_math
from local.cloudwatch.evaluation import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    Rule,
    buckets,
    check_statistic,
    period_start,
    state,
    statistic,
)
from local.cloudwatch.inbox import Inbox
from local.runtime import Invocation

log = logging.getLogger("local.cloudwatch")

# How often, in alarm time, the alarms are evaluated; CloudWatch's own
# evaluation is minutely, a shorter step only finds a transition sooner.
EVALUATE_EVERY_S = 10
# Never more often than this in real time, whatever the scale: the whole test
# suite runs beside this thread.
MIN_TICK_S = 0.5
# SQS publishes its queue metrics once a minute.
SQS_EVERY_S = 60
# What moto's SQS hands the local CloudWatch and no AWS client: SentTimestamp
# of the queue's oldest message (local/moto_server.py).
OLDEST_SENT = "LocalOldestMessageSentTimestamp"
# A throttle local/faults.py answered in DynamoDB's place: DynamoDB counts it
# in ThrottledRequests per TableName and Operation.
THROTTLED = re.compile(r"^local\.faults: injected throttle on before-send\.dynamodb\.(?P<operation>\w+) "
                       r"table (?P<table>\S+)$")
REGION_NAMES = {"us-east-1": "US East (N. Virginia)", "eu-west-1": "Europe (Ireland)"}
_PUT_BATCH = 20


@dataclass
class Clock:
    scale: float = 1.0
    origin: float = field(default_factory=time.time)

    def at(self, real: float) -> float:
        """The alarm time of a real moment."""
        return self.origin + (real - self.origin) * self.scale

    def now(self) -> float:
        return self.at(time.time())


@dataclass(frozen=True)
class Transition:
    alarm: str
    old: str
    new: str
    reason: str
    at: datetime


class MetricStore:
    """Raw values by series, in alarm time, for as long as any alarm looks back."""

    def __init__(self, keep_s: float) -> None:
        self._keep_s = keep_s
        self._series: dict[tuple, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def put(self, namespace: str, name: str, dimensions: Iterable[tuple[str, str]], values: Iterable[float],
            at: float) -> None:
        key = (namespace, name, tuple(sorted(dimensions)))
        with self._lock:
            series = self._series[key]
            series.extend((at, value) for value in values)
            while series and series[0][0] < at - self._keep_s:
                series.popleft()

    def series(self) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
        """Every series that has values: namespace, name and dimensions."""
        with self._lock:
            return list(self._series)

    def samples(self, source: Metric | insights.Query) -> list[tuple[float, float]]:
        with self._lock:
            if isinstance(source, insights.Query):
                return [sample for (namespace, name, dimensions), series in self._series.items()
                        if source.matches(namespace, name, dict(dimensions)) for sample in series]
            key = (source.namespace, source.name, tuple(sorted((k, str(v)) for k, v in source.dimensions.items())))
            return list(self._series.get(key, ()))


class _Alarm:
    def __init__(self, spec: AlarmSpec, name: str) -> None:
        self.spec = spec
        self.name = name
        self.rule = Rule(spec.comparison, spec.threshold, spec.periods, spec.datapoints, spec.missing)
        # Refused here, at start-up, rather than never evaluated.
        self.query: insights.Query | None = None
        self.expression: metric_math.Expression | None = None
        if isinstance(spec.source, Insights):
            self.query = insights.parse(spec.source.query)
        elif isinstance(spec.source, MetricMath):
            self.expression = metric_math.parse(spec.source.expression, list(spec.source.metrics))
            for metric in spec.source.metrics.values():
                check_statistic(metric.stat)
        else:
            check_statistic(spec.source.stat)
        self.state = INSUFFICIENT_DATA

    def datapoints(self, store: MetricStore, now: float) -> list[float | None]:
        if self.query is not None:
            by_period = self._periods(store, self.query, now)
            return [self.query.aggregate(values) if values else None for values in by_period]
        if self.expression is not None:
            # Each metric's datapoints per period first, then the expression per period.
            return self.expression.evaluate({
                metric_id: self._metric(store, metric, now) for metric_id, metric in self.spec.source.metrics.items()})
        return self._metric(store, self.spec.source, now)

    def _metric(self, store: MetricStore, metric: Metric, now: float) -> list[float | None]:
        return [statistic(values, metric.stat) if values else None for values in self._periods(store, metric, now)]

    def _periods(self, store: MetricStore, source: Metric | insights.Query, now: float) -> list[list[float]]:
        return buckets(store.samples(source), now, self.spec.period_s, self.rule.range_size)


class _LogTail:
    """A log file read from where the last read stopped, whole lines only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = path.stat().st_size if path.exists() else 0

    def lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._offset += end
        return data[:end].decode("utf-8", "replace").splitlines()


class LocalCloudWatch:
    def __init__(self, moto_url: str, region: str, names: Names, specs: Sequence[AlarmSpec], state_dir: Path,
                 logs: Sequence[Path] = (), queues: Sequence[str] = (), scale: float = 1.0,
                 host: str = "127.0.0.1") -> None:
        self.names = names
        self.region = region
        self.clock = Clock(scale)
        self._alarms = [_Alarm(spec, spec.name(names)) for spec in specs]
        self.store = MetricStore(max((a.spec.period_s * a.rule.range_size for a in self._alarms), default=0) * 2)
        self._clients = {service: boto3.client(service, endpoint_url=moto_url, region_name=region,
                                               aws_access_key_id="cloudwatch", aws_secret_access_key="cloudwatch")
                         for service in ("cloudwatch", "sns", "sqs")}
        self._logs = [_LogTail(path) for path in logs]
        self._queues = list(queues)
        self.inbox = Inbox(state_dir / "oncall-inbox.jsonl", host=host)
        self.topic_arn: str | None = None
        self.listeners: list[Callable[[Transition], None]] = []
        self._pending: dict[str, list[dict]] = defaultdict(list)
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_sqs = 0.0

    @property
    def alarm_names(self) -> list[str]:
        return [alarm.name for alarm in self._alarms]

    # --- what the stack's pieces report -------------------------------------------------
    def put(self, namespace: str, name: str, dimensions: Mapping[str, str], values: Sequence[float],
            unit: str = "None", real_time: float | None = None) -> None:
        moment = time.time() if real_time is None else real_time
        self.store.put(namespace, name, dimensions.items(), values, self.clock.at(moment))
        datum = {"MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                 "Values": list(values), "Unit": unit, "Timestamp": datetime.fromtimestamp(moment, UTC)}
        with self._pending_lock:
            self._pending[namespace].append(datum)

    def invoked(self, function_name: str, invocation: Invocation) -> None:
        """What Lambda publishes per invocation (AWS/Lambda, FunctionName):
        an error is the function's own, a timeout or a crashed runtime."""
        dimensions = {"FunctionName": function_name}
        self.put("AWS/Lambda", "Invocations", dimensions, [1], "Count")
        self.put("AWS/Lambda", "Errors", dimensions, [1 if invocation.failed else 0], "Count")
        self.put("AWS/Lambda", "Duration", dimensions, [invocation.duration_ms], "Milliseconds")

    def throttled(self, function_name: str) -> None:
        """A throttled invocation request (AWS/Lambda Throttles, FunctionName)."""
        self.put("AWS/Lambda", "Throttles", {"FunctionName": function_name}, [1], "Count")

    def requested(self, api_id: str, stage: str, status: int, latency_ms: float) -> None:
        """What an HTTP API publishes per request (AWS/ApiGateway, ApiId and Stage)."""
        dimensions = {"ApiId": api_id, "Stage": stage}
        self.put("AWS/ApiGateway", "Count", dimensions, [1], "Count")
        self.put("AWS/ApiGateway", "4xx", dimensions, [1 if 400 <= status < 500 else 0], "Count")
        self.put("AWS/ApiGateway", "5xx", dimensions, [1 if status >= 500 else 0], "Count")
        self.put("AWS/ApiGateway", "Latency", dimensions, [latency_ms], "Milliseconds")

    # --- the timer ----------------------------------------------------------------------
    def start(self) -> LocalCloudWatch:
        self.inbox.start()
        sns = self._clients["sns"]
        self.topic_arn = sns.create_topic(Name=f"{self.names.prefix}-alarms")["TopicArn"]
        sns.subscribe(TopicArn=self.topic_arn, Protocol="http", Endpoint=self.inbox.url)
        for alarm in self._alarms:
            self._clients["cloudwatch"].put_metric_alarm(**_alarm_request(alarm, self.topic_arn))
        self._thread = threading.Thread(target=self._run, name="local-cloudwatch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.inbox.stop()

    def _run(self) -> None:
        interval = max(MIN_TICK_S, EVALUATE_EVERY_S / self.clock.scale)
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception:
                # A broken tick must not end evaluation for the rest of the run.
                log.exception("local CloudWatch tick failed")

    def tick(self) -> list[Transition]:
        self._read_logs()
        now = self.clock.now()
        if now >= self._next_sqs:
            self._sample_queues()
            self._next_sqs = period_start(now, SQS_EVERY_S) + SQS_EVERY_S
        self._flush()
        return [t for alarm in self._alarms if (t := self._evaluate(alarm, now)) is not None]

    def settle(self, timeout_s: float = 120) -> None:
        """Wait until the evaluating thread has taken the next queue sample (SQS
        publishes once a minute) and evaluated after it: what on-call would see
        a minute after the last event of a run, so a backlog that formed at its
        very end is judged too."""
        sampled_before = self._next_sqs
        deadline = time.monotonic() + timeout_s
        while self._next_sqs <= sampled_before and time.monotonic() < deadline:
            time.sleep(0.2)
        # The same tick evaluates, from memory, right after it samples and flushes.
        time.sleep(2)

    def _read_logs(self) -> None:
        for tail in self._logs:
            for line in tail.lines():
                try:
                    found = emf.samples(line)
                except emf.InvalidEmf as error:
                    # CloudWatch extracts nothing from a broken document and goes on.
                    log.warning("%s: EMF line skipped: %s", tail.path.name, error)
                    continue
                for sample in found:
                    self.put(sample.namespace, sample.name, dict(sample.dimensions), sample.values, sample.unit,
                             sample.timestamp_ms / 1000)
                throttled = THROTTLED.match(line)
                if throttled:
                    self.put("AWS/DynamoDB", "ThrottledRequests",
                             {"TableName": throttled["table"], "Operation": throttled["operation"]}, [1], "Count")

    def _sample_queues(self) -> None:
        sqs = self._clients["sqs"]
        for url in self._queues:
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", OLDEST_SENT])["Attributes"]
            oldest = attributes.get(OLDEST_SENT)
            age = max(0.0, time.time() - int(oldest) / 1000) if oldest else 0.0
            self.queue_sampled(url.rstrip("/").rsplit("/", 1)[-1], int(attributes["ApproximateNumberOfMessages"]),
                               int(age))

    def queue_sampled(self, queue_name: str, visible: int, oldest_age_s: int) -> None:
        """What SQS publishes each minute per queue (AWS/SQS, QueueName)."""
        dimensions = {"QueueName": queue_name}
        self.put("AWS/SQS", "ApproximateNumberOfMessagesVisible", dimensions, [float(visible)], "Count")
        self.put("AWS/SQS", "ApproximateAgeOfOldestMessage", dimensions, [float(oldest_age_s)], "Seconds")

    def _flush(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, defaultdict(list)
        cloudwatch = self._clients["cloudwatch"]
        for namespace, data in pending.items():
            for start in range(0, len(data), _PUT_BATCH):
                cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start:start + _PUT_BATCH])

    def _evaluate(self, alarm: _Alarm, now: float) -> Transition | None:
        points = alarm.datapoints(self.store, now)
        new = state(alarm.rule, points, alarm.state)
        if new == alarm.state:
            return None
        old, alarm.state = alarm.state, new
        when = datetime.now(UTC)
        reason = _reason(alarm, points, old, new)
        recent = [p for p in points if p is not None][-alarm.rule.periods:]
        self._clients["cloudwatch"].set_alarm_state(
            AlarmName=alarm.name, StateValue=new, StateReason=reason,
            StateReasonData=json.dumps({"version": "1.0", "queryDate": when.isoformat(),
                                        "period": alarm.spec.period_s, "recentDatapoints": recent,
                                        "threshold": alarm.spec.threshold}))
        transition = Transition(alarm.name, old, new, reason, when)
        if new in (ALARM, OK):
            self._notify(alarm, transition)
        for listener in self.listeners:
            listener(transition)
        return transition

    def _notify(self, alarm: _Alarm, transition: Transition) -> None:
        """The alarm action: CloudWatch publishes this JSON to the topic
        (the shape of "Amazon SNS notification" for CloudWatch alarms)."""
        message = {
            "AlarmName": alarm.name,
            "AlarmDescription": alarm.spec.description,
            "AWSAccountId": self.topic_arn.split(":")[4],
            "NewStateValue": transition.new,
            "NewStateReason": transition.reason,
            "StateChangeTime": transition.at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
            "Region": REGION_NAMES.get(self.region, self.region),
            "AlarmArn": f"arn:aws:cloudwatch:{self.region}:{self.topic_arn.split(':')[4]}:alarm:{alarm.name}",
            "OldStateValue": transition.old,
            "Trigger": _trigger(alarm.spec),
        }
        subject = f'{transition.new}: "{alarm.name}" in {message["Region"]}'[:100]
        self._clients["sns"].publish(TopicArn=self.topic_arn, Subject=subject, Message=json.dumps(message))


def _metric_stat(metric: Metric, period_s: int, dimension_keys: tuple[str, str] = ("Name", "Value")) -> dict:
    name, value = dimension_keys
    return {"Metric": {"Namespace": metric.namespace, "MetricName": metric.name,
                       "Dimensions": [{name: k, value: str(v)} for k, v in metric.dimensions.items()]},
            "Period": period_s, "Stat": metric.stat}


def _queries(spec: AlarmSpec, dimension_keys: tuple[str, str] = ("Name", "Value")) -> list[dict]:
    """The alarm's `Metrics` (PutMetricAlarm's MetricDataQuery array); the
    notification's Trigger names dimensions in lower case."""
    source = spec.source
    if isinstance(source, Insights):
        return [{"Id": "q", "Expression": source.query, "Label": source.label, "Period": spec.period_s,
                 "ReturnData": True}]
    if isinstance(source, MetricMath):
        return [*({"Id": metric_id, "MetricStat": _metric_stat(metric, spec.period_s, dimension_keys),
                   "ReturnData": False} for metric_id, metric in source.metrics.items()),
                {"Id": source.id, "Expression": source.expression, "Label": source.label, "ReturnData": True}]
    return [{"Id": "m", "ReturnData": True, "MetricStat": _metric_stat(source, spec.period_s, dimension_keys)}]


def _alarm_request(alarm: _Alarm, topic_arn: str) -> dict:
    spec = alarm.spec
    return {"AlarmName": alarm.name, "AlarmDescription": spec.description, "ComparisonOperator": spec.comparison,
            "Threshold": spec.threshold, "EvaluationPeriods": spec.periods, "DatapointsToAlarm": spec.datapoints,
            "Metrics": _queries(spec), "TreatMissingData": spec.missing, "AlarmActions": [topic_arn],
            "OKActions": [topic_arn]}


def _trigger(spec: AlarmSpec) -> dict:
    common = {"Period": spec.period_s, "EvaluationPeriods": spec.periods, "DatapointsToAlarm": spec.datapoints,
              "ComparisonOperator": spec.comparison, "Threshold": spec.threshold,
              "TreatMissingData": spec.missing, "EvaluateLowSampleCountPercentile": ""}
    if not isinstance(spec.source, Metric):
        return {**common, "Metrics": _queries(spec, ("name", "value"))}
    return {**common, "MetricName": spec.source.name, "Namespace": spec.source.namespace,
            "StatisticType": "ExtendedStatistic" if spec.source.stat.startswith("p") else "Statistic",
            "Statistic": spec.source.stat.upper(), "Unit": None,
            "Dimensions": [{"name": k, "value": str(v)} for k, v in spec.source.dimensions.items()]}


def _reason(alarm: _Alarm, points: Sequence[float | None], old: str, new: str) -> str:
    real = [p for p in points if p is not None][-alarm.rule.periods:]
    if not real:
        return f"Missing data: no datapoints in the last {alarm.rule.range_size} periods ({alarm.spec.missing})"
    breaching = sum(alarm.rule.breaches(p) for p in real)
    shown = ", ".join(f"{p:g}" for p in reversed(real))
    verb = "were" if breaching != 1 else "was"
    relation = "not " if new == OK else ""
    return (f"Threshold Crossed: {breaching} out of the last {len(real)} datapoints [{shown}] {verb} {relation}"
            f"{alarm.spec.comparison} {alarm.spec.threshold:g} "
            f"(minimum {alarm.rule.datapoints} datapoint(s) for {old} -> {new} transition).")
