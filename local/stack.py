"""The whole system on one machine: moto, the provisioned resources, and the
emulated pieces of AWS that connect them to our handlers.

Every AWS call reaches moto through a front that enforces IAM as AWS would
(local/iam/): S3 through local/s3/front.py, everything else through
local/iam/front.py. Each function runs with credentials of its own role, the
event source mapping polls with the worker's, the stack file hands the ops
CLI the on-call operator's, and `client()` acts as the deployer."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

from contract import functions
from contract.alarms import HTTP_API_STAGE, alarms
from contract.events import StreamSettings
from contract.functions import ENV_BUCKET_NAME, ENV_CURSOR_SECRET_PARAMETER, ENV_EVENT_BUS, ENV_STACK, ENV_TABLE_NAME
from contract.ingest import INGEST as DEPLOYED_INGEST
from contract.ingest import IngestSettings
from contract.names import Names
from contract.outputs import DashboardConfig, LocalOutputs
from contract.quotas import QUOTAS, Quotas
from contract.scan import ENV_MALWARE_SCAN, SCAN_OFF_VALUE, SCAN_ON_VALUE, SWEEP_RATE_MINUTES
from contract.webhooks import (
    ENV_WEBHOOK_DELIVERY,
    ENV_WEBHOOK_ENDPOINTS,
    SECRET_PREFIX,
    DeliverySettings,
    WebhookEndpoint,
    endpoints_variable,
)
from local import cognito, provision
from local.cloudwatch.service import LocalCloudWatch
from local.esm import EventSourceMapping
from local.faults import Faults
from local.gateway import Cors, Gateway, JwtAuthorizer
from local.guardduty import ENV_OBJECT_CREATED_SOCKET, Clamd, MalwareProtection
from local.hosted_ui import HostedUI
from local.iam.authority import API, DEPLOYER, EVENTS, INGEST, OPERATOR, WEBHOOKS, Authority
from local.iam.front import AwsFront
from local.iam.s3 import S3Authorizer
from local.runtime import ACCOUNT_ID, ExecutionEnvironment, FunctionSpec
from local.s3 import S3Front
from local.schedule import ScheduledRule
from local.serving import end_process
from local.streams import StreamMapping
from local.web import Dashboard
from local.webhook_inbox import WebhookInbox

# Where `python -m local.moto_server` is found.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

REGION = "us-east-1"

# The same derivations as production with shorter clocks: a retry comes back in
# half a minute and a poison message reaches the DLQ in under three. The timeout
# still leaves room for the extractors' per-file budget on real photos and PDFs.
LOCAL_INGEST = IngestSettings(
    worker_timeout_s=5,
    batching_window_s=DEPLOYED_INGEST.batching_window_s,
    receive_wait_s=1,
    reserved_concurrency=2,
    maximum_concurrency=2,
)
# The deployed mapping's settings with fewer retries: a batch that cannot be
# told is given up on in seconds.
LOCAL_STREAM = StreamSettings(maximum_retry_attempts=2)

# The webhook schedule with seconds for minutes and hours: waits of 1, 2, 4
# and 4 s, so a delivery is dead-lettered about 15 s after its first try.
LOCAL_DELIVERY = DeliverySettings(
    first_retry_s=1,
    max_backoff_s=4,
    retry_window_s=10,
    connect_timeout_s=1,
    read_timeout_s=2,
    receive_wait_s=1,
    message_retention_s=3600,
    dlq_retention_s=7200,
)

INBOX = "inbox"


@dataclass
class LocalStack:
    state_dir: Path = Path(".local")
    stack: str = "local"
    host: str = "127.0.0.1"
    moto_port: int = 0
    # The AWS endpoint every client uses (the IAM front before moto).
    aws_port: int = 0
    s3_port: int = 0
    api_port: int = 0
    web_port: int = 0
    hosted_ui_port: int = 0
    # Concurrent API invocations, each in its own execution environment.
    api_concurrency: int = 2
    ingest: IngestSettings = LOCAL_INGEST
    # The table stream's event source mapping to the event producer.
    streams: StreamSettings = LOCAL_STREAM
    # Per-user limits, the deployed defaults unless given.
    quotas: Quotas = QUOTAS
    # A faulty AWS for the ingest path (local.faults); None is a healthy one.
    faults: Faults | None = None
    # Alarm-seconds per real second for the local CloudWatch's periods (60: a
    # 5-minute period lasts 5 s); the evaluation is the same at any scale.
    alarm_clock_scale: float = 1.0
    # `uploads:malwareScan`: GuardDuty emulated with clamd (local/guardduty.py).
    malware_scan: bool = False
    # The stack's webhook endpoints (`uploads:webhooks` on AWS): the stack
    # generates each one's secret into SSM under its `secret_parameter`.
    webhooks: tuple[WebhookEndpoint, ...] = ()
    delivery: DeliverySettings = LOCAL_DELIVERY
    # Endpoints (by name) whose secret the stack keeps in Secrets Manager, by
    # its ARN, instead of SSM; their `secret_parameter` is replaced by that ARN.
    secrets_manager_webhooks: frozenset[str] = frozenset()
    # A webhook inbox (local/webhook_inbox.py) on this port as the endpoint
    # "inbox", for every detail type; None: no inbox.
    inbox_port: int | None = None
    outputs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        self.names = Names(self.stack)
        self._moto: subprocess.Popen | None = None
        self.moto_url: str | None = None
        # The stack's principals and IAM decisions; fresh credentials each start.
        self.iam: Authority | None = None
        self._aws_front: AwsFront | None = None
        self._s3_front: S3Front | None = None
        self._mapping: EventSourceMapping | None = None
        self._stream_mapping: StreamMapping | None = None
        self._gateway: Gateway | None = None
        self._dashboard: Dashboard | None = None
        self._hosted_ui: HostedUI | None = None
        self._cloudwatch: LocalCloudWatch | None = None
        # The HTTP API's id, as API Gateway would assign one: its metrics carry it.
        self.api_id = secrets.token_hex(5)
        self._clamd: Clamd | None = None
        self._malware_protection: MalwareProtection | None = None
        self._scan_sweep: ScheduledRule | None = None
        self._deliveries: EventSourceMapping | None = None
        self._inbox: WebhookInbox | None = None
        # Each endpoint's secret by name, as the stack generated it (`whsec_...`).
        self.webhook_secrets: dict[str, str] = {}

    @property
    def dashboard_origin(self) -> str:
        """Where the dashboard is served; CORS (API and bucket) allows exactly this."""
        assert self._dashboard is not None, "the stack is not started"
        return self._dashboard.url

    @property
    def stack_file(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def credentials(self, principal: str = DEPLOYER) -> dict[str, str]:
        """AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of one of the stack's
        principals: "deployer", "api", "ingest" or "operator"."""
        assert self.iam is not None, "the stack is not started"
        return self.iam.named(principal).credentials

    def client(self, service: str, principal: str = DEPLOYER):
        """A client of the stack's AWS, as the deployer (allowed everything) unless told otherwise."""
        credentials = self.credentials(principal)
        return boto3.client(
            service,
            endpoint_url=self.outputs["awsEndpointUrlS3" if service == "s3" else "awsEndpointUrl"],
            # Presigned URLs too are SigV4: the front, like a bucket made since 2020, refuses SigV2.
            config=Config(signature_version="s3v4") if service == "s3" else None,
            region_name=REGION,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        )

    @property
    def bucket(self) -> str:
        return self.names.upload_bucket(ACCOUNT_ID)

    def _function(self, spec: functions.FunctionSpec, role: str, extra: dict[str, str] | None = None) -> FunctionSpec:
        """The contract's function, with what Lambda would give it here, plus
        where the emulator is and its role's credentials."""
        variables = {
            ENV_TABLE_NAME: self.names.table,
            ENV_BUCKET_NAME: self.bucket,
            ENV_STACK: self.stack,
            ENV_MALWARE_SCAN: SCAN_ON_VALUE if self.malware_scan else SCAN_OFF_VALUE,
            ENV_CURSOR_SECRET_PARAMETER: self.names.cursor_secret_parameter,
            ENV_EVENT_BUS: self.names.event_bus,
            ENV_WEBHOOK_ENDPOINTS: endpoints_variable(self.webhooks),
            ENV_WEBHOOK_DELIVERY: self.delivery.variable,
            **self.quotas.variables(),
        }
        return FunctionSpec(
            name=spec.function_name(self.names),
            handler=spec.handler,
            timeout_s=spec.timeout_s,
            memory_mb=spec.memory_mb,
            region=REGION,
            environment={
                **spec.environment(variables),
                "AWS_ENDPOINT_URL": self.outputs["awsEndpointUrl"],
                # S3 goes through the front that enforces what moto does not (local/s3/).
                "AWS_ENDPOINT_URL_S3": self.outputs["awsEndpointUrlS3"],
                # Lambda hands a function its execution role's session credentials.
                **(self.credentials(role) if self.iam is not None else {}),
                **(extra or {}),
            },
        )

    def worker_spec(self) -> FunctionSpec:
        return self._function(functions.ingest_worker(self.ingest), INGEST,
                              self.faults.to_env() if self.faults else None)

    def api_spec(self) -> FunctionSpec:
        return self._function(functions.API, API)

    def events_spec(self) -> FunctionSpec:
        return self._function(functions.EVENTS, EVENTS)

    def webhooks_spec(self) -> FunctionSpec:
        return self._function(functions.webhook_delivery(self.delivery), WEBHOOKS)

    def webhook(self, name: str, url: str, detail_types: tuple[str, ...] | None = None) -> WebhookEndpoint:
        """An endpoint for this stack, its secret under the stack's own parameter name."""
        return WebhookEndpoint(name, url, self.names.webhook_secret_parameter(name),
                               *((detail_types,) if detail_types else ()))

    def start(self) -> LocalStack:
        try:
            return self._start()
        except BaseException:
            # A half-started stack (a port in use, say) must not leave moto or
            # environments running behind it.
            self.stop()
            raise

    def _start(self) -> LocalStack:
        self.stack_file.unlink(missing_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.malware_scan:
            # First: with the system's database, clamd takes a while to load it.
            self._clamd = Clamd(self.state_dir).start()
            # moto tells the plan of each new object over this socket, so it exists before moto starts.
            self._malware_protection = MalwareProtection(self._clamd, self.bucket, REGION)
        self.moto_url = self._start_moto()
        if self.inbox_port is not None:
            # Bound first: its URL is the endpoint's.
            self._inbox = WebhookInbox(self.host, self.inbox_port)
            self.webhooks = (*(e for e in self.webhooks if e.name != INBOX), self.webhook(INBOX, self._inbox.url))
        self.webhook_secrets = {}
        # Before IAM: the function's policy names each secret by its ARN, known once it exists.
        self._keep_webhook_secrets_in_secrets_manager()
        self.iam = Authority.for_stack(self.names, REGION, ACCOUNT_ID, self.malware_scan,
                                       webhook_secrets=[e.secret_parameter for e in self.webhooks])
        self._aws_front = AwsFront(self.moto_url, self.iam, host=self.host, port=self.aws_port).start()
        self._s3_front = S3Front(self.moto_url, S3Authorizer(self.iam, self.moto_url), host=self.host,
                                 port=self.s3_port).start()
        # The stack file is what the ops CLI reads: it acts as the on-call
        # operator, with the policy docs/runbooks.md tells an operator to have.
        self.outputs = {"awsEndpointUrl": self._aws_front.url, "awsEndpointUrlS3": self._s3_front.url,
                        "emulatorCredentials": self.credentials(OPERATOR), "region": REGION}
        # Bound first: the bucket's CORS, the API's CORS and the app client's
        # callback URL all name the dashboard's origin.
        self._dashboard = Dashboard(host=self.host, port=self.web_port)

        queue_url, queue_arn, dlq_url = provision.create_queues(self.client("sqs"), self.names, self.ingest)
        events_dlq_url, _ = provision.create_events_dead_letter_queue(self.client("sqs"), self.names, self.streams)
        provision.create_table(self.client("dynamodb"), self.names)
        bus_name, bus_arn = provision.create_event_bus(self.client("events"), self.client("logs"), self.names,
                                                       REGION, ACCOUNT_ID)
        provision.create_bucket(self.client("s3"), self.bucket, queue_arn, cors_origins=[self.dashboard_origin])
        self.outputs.update(
            webhookQueueUrl=None,
            webhookDeadLetterQueueUrl=None,
            bucketName=self.bucket,
            queueUrl=queue_url,
            deadLetterQueueUrl=dlq_url,
            tableName=self.names.table,
            malwareScan=self.malware_scan,
            eventBusName=bus_name,
            eventBusArn=bus_arn,
            eventLogGroup=self.names.event_log_group,
        )
        if self._clamd is not None:
            self._start_malware_protection(queue_arn)
        webhook_queues = self._provision_webhooks() if self.webhooks else []

        self._cloudwatch = LocalCloudWatch(
            self.moto_url, REGION, self.names,
            alarms(self.names, self.ingest, self.api_id, malware_scan=self.malware_scan,
                   webhooks=bool(self.webhooks)), self.state_dir,
            logs=[self.log_dir / "ingest.log", self.log_dir / "api.log", self.log_dir / "webhooks.log"],
            queues=[queue_url, dlq_url, events_dlq_url, *webhook_queues],
            scale=self.alarm_clock_scale, host=self.host,
        ).start()
        worker = self.worker_spec()
        self._mapping = EventSourceMapping(
            # AWS's poller acts with the worker's execution role.
            self.client("sqs", INGEST),
            queue_url,
            queue_arn,
            REGION,
            self.ingest,
            [ExecutionEnvironment(worker, self.log_dir / "ingest.log", self._cloudwatch.invoked)
             for _ in range(self.ingest.maximum_concurrency)],
            faults=self.faults,
            # A duplicate delivery is SQS's doing, not the role's.
            redeliver=self.client("sqs") if self.faults else None,
            on_throttled=lambda: self.cloudwatch.throttled(worker.name),
        )
        self._mapping.start()
        self._start_events(events_dlq_url)
        if self.webhooks:
            self._start_deliveries()
        if self._malware_protection is not None:
            self._scan_sweep = ScheduledRule(
                boto3.client("sqs", endpoint_url=self.moto_url, region_name=REGION,
                             aws_access_key_id="events", aws_secret_access_key="events"),
                queue_url, f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{self.names.scan_sweep_rule}", ACCOUNT_ID,
                REGION, SWEEP_RATE_MINUTES * 60, self.alarm_clock_scale).start()
        self._start_api()
        self._start_dashboard()
        self._write_outputs()
        return self

    def _start_events(self, dlq_url: str) -> None:
        """The event producer, fed by the table's stream through the mapping
        AWS would run (local/streams.py), polling with the producer's role."""
        stream_arn = self.client("dynamodb").describe_table(TableName=self.names.table)["Table"]["LatestStreamArn"]
        producer = self.events_spec()
        self._stream_mapping = StreamMapping(
            self.client("dynamodbstreams", EVENTS), self.client("sqs", EVENTS), stream_arn, producer.arn, dlq_url,
            self.streams, ExecutionEnvironment(producer, self.log_dir / "events.log", self._cloudwatch.invoked),
        ).start()

    @property
    def stream_mapping(self) -> StreamMapping:
        assert self._stream_mapping is not None, "the stack is not started"
        return self._stream_mapping

    def events(self):
        """EventBridge on moto directly, as the deployer: to make rules, and
        for tests that put events as the producer would (the functions' own
        calls go through the IAM front)."""
        return boto3.client("events", endpoint_url=self.moto_url, region_name=REGION,
                            aws_access_key_id="deployer", aws_secret_access_key="deployer")

    def _provision_webhooks(self) -> list[str]:
        """The delivery queue and DLQ, a secret per endpoint, and the rules;
        returns the two queues' URLs."""
        queue_url, queue_arn, dlq_url = provision.create_webhook_queues(self.client("sqs"), self.names, self.delivery)
        ssm = self.client("ssm")
        for endpoint in self.webhooks:
            if endpoint.name not in self.webhook_secrets:
                self.webhook_secrets[endpoint.name] = _new_webhook_secret()
                ssm.put_parameter(Name=endpoint.secret_parameter, Value=self.webhook_secrets[endpoint.name],
                                  Type="SecureString", Overwrite=True)
        provision.create_webhook_rules(self.events(), self.names, self.webhooks, queue_arn)
        if self._inbox is not None:
            self._inbox.secret = self.webhook_secrets[INBOX]
            self._inbox.start()
        self.outputs.update(webhookQueueUrl=queue_url, webhookDeadLetterQueueUrl=dlq_url)
        self._webhook_queue = (queue_url, queue_arn)
        return [queue_url, dlq_url]

    def _keep_webhook_secrets_in_secrets_manager(self) -> None:
        """Made as the deployer on moto directly: IAM is not built yet, and the
        deployer may do anything anyway."""
        chosen = [e for e in self.webhooks if e.name in self.secrets_manager_webhooks]
        if not chosen:
            return
        manager = boto3.client("secretsmanager", endpoint_url=self.moto_url, region_name=REGION,
                               aws_access_key_id="deployer", aws_secret_access_key="deployer")
        arns = {}
        for endpoint in chosen:
            secret = _new_webhook_secret()
            arns[endpoint.name] = manager.create_secret(Name=self.names.webhook_secret_parameter(endpoint.name)
                                                        .lstrip("/"), SecretString=secret)["ARN"]
            self.webhook_secrets[endpoint.name] = secret
        self.webhooks = tuple(dataclasses.replace(e, secret_parameter=arns[e.name]) if e.name in arns else e
                              for e in self.webhooks)

    def _start_deliveries(self) -> None:
        queue_url, queue_arn = self._webhook_queue
        spec = self.webhooks_spec()
        self._deliveries = EventSourceMapping(
            self.client("sqs", WEBHOOKS), queue_url, queue_arn, REGION, self.delivery,
            [ExecutionEnvironment(spec, self.log_dir / "webhooks.log", self._cloudwatch.invoked)
             for _ in range(self.delivery.maximum_concurrency)],
        )
        self._deliveries.start()

    @property
    def inbox(self) -> WebhookInbox:
        assert self._inbox is not None, "the stack has no webhook inbox, or is not started"
        return self._inbox

    @property
    def deliveries(self) -> EventSourceMapping:
        assert self._deliveries is not None, "the stack has no webhooks, or is not started"
        return self._deliveries

    def _start_moto(self) -> str:
        """moto in a process of its own: its state is global per process, so a
        stack must not share it with anything else (tests using mock_aws, another stack)."""
        port = self.moto_port or _free_port(self.host)
        with open(self.log_dir / "moto.log", "ab") as log:
            self._moto = subprocess.Popen(
                [sys.executable, "-m", "local.moto_server", "-H", self.host, "-p", str(port)],
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **({ENV_OBJECT_CREATED_SOCKET: str(self._malware_protection.socket_path)}
                                      if self._malware_protection is not None else {})},
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._moto.poll() is not None:
                raise RuntimeError(f"moto exited at start-up; see {self.log_dir / 'moto.log'}")
            try:
                socket.create_connection((self.host, port), timeout=0.2).close()
                return f"http://{self.host}:{port}"
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto did not listen on {self.host}:{port} within 30 s")

    def _start_malware_protection(self, queue_arn: str) -> None:
        """The plan on the bucket's incoming/ prefix, and the EventBridge rule
        that sends its results to the ingest queue. EventBridge is no service
        the stack's principals call, so the rule is made on moto directly."""
        provision.create_scan_result_rule(self.events(), self.names, self.bucket, queue_arn)
        self._malware_protection.start(self.moto_url)
        self._aws_front.emulated[("guardduty", "SendObjectMalwareScan")] = \
            self._malware_protection.send_object_malware_scan

    def _start_api(self) -> None:
        pool = cognito.create_user_pool(self.client("cognito-idp"), self.names, REGION, self.outputs["awsEndpointUrl"],
                                        self.dashboard_url)
        # A fresh signing key per start: it exists only in the emulator's memory.
        self.client("ssm").put_parameter(
            Name=self.names.cursor_secret_parameter, Value=secrets.token_hex(32), Type="SecureString"
        )
        api = self.api_spec()
        self._gateway = Gateway(
            JwtAuthorizer(pool.issuer, [pool.client_id], pool.jwks_url),
            Cors(origins=(self.dashboard_origin,)),
            [ExecutionEnvironment(api, self.log_dir / "api.log", self._cloudwatch.invoked)
             for _ in range(self.api_concurrency)],
            host=self.host,
            port=self.api_port,
            on_request=self._api_requested,
        ).start()
        self.outputs.update(
            apiUrl=self._gateway.url,
            userPoolId=pool.pool_id,
            userPoolClientId=pool.client_id,
            demoUser=cognito.create_user(self.client("cognito-idp"), pool.pool_id, cognito.DEMO_USERNAME),
        )

    def _api_requested(self, status: int, latency_ms: float) -> None:
        self.cloudwatch.requested(self.api_id, HTTP_API_STAGE, status, latency_ms)

    @property
    def cloudwatch(self) -> LocalCloudWatch:
        assert self._cloudwatch is not None, "the stack is not started"
        return self._cloudwatch

    @property
    def dashboard_url(self) -> str:
        return self.dashboard_origin + "/"

    def _start_dashboard(self) -> None:
        self._hosted_ui = HostedUI(self.client("cognito-idp"), self.outputs["userPoolId"],
                                   host=self.host, port=self.hosted_ui_port,
                                   demo_user=self.outputs["demoUser"]).start()
        config = DashboardConfig(
            api_url=self.outputs["apiUrl"],
            cognito_domain=self._hosted_ui.url,
            user_pool_id=self.outputs["userPoolId"],
            user_pool_client_id=self.outputs["userPoolClientId"],
            redirect_uris=[self.dashboard_url],
            region=REGION,
        )
        bucket = self.outputs["awsEndpointUrlS3"]
        # Thumbnails are presigned GETs on the bucket, as in AWS.
        self._dashboard.serve(config.as_dict(), [self.outputs["apiUrl"], bucket, self._hosted_ui.url], [bucket])
        self.outputs.update(webUrl=self.dashboard_url, hostedUiUrl=self._hosted_ui.url)

    def _write_outputs(self) -> None:
        partial = self.stack_file.with_suffix(".json.tmp")
        # Exactly the typed keys: a missing one fails here, not in a reader.
        outputs = LocalOutputs.from_dict(self.outputs).as_dict()
        partial.write_text(json.dumps(outputs, indent=2) + "\n")
        os.replace(partial, self.stack_file)

    @property
    def mapping(self) -> EventSourceMapping:
        assert self._mapping is not None, "the stack is not started"
        return self._mapping

    def stop(self) -> None:
        # Callers first, then what they call: nothing is left calling a piece that stopped.
        for name in ("_dashboard", "_hosted_ui", "_gateway", "_scan_sweep", "_deliveries", "_inbox", "_mapping",
                     "_stream_mapping", "_malware_protection",
                     "_cloudwatch", "_s3_front", "_aws_front", "_clamd"):
            piece = getattr(self, name)
            setattr(self, name, None)
            if piece is not None:
                piece.stop()
        if self._moto is not None:
            end_process(self._moto)
            self._moto = None
        if self.iam is not None:
            self.iam.close()
        self.stack_file.unlink(missing_ok=True)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _new_webhook_secret() -> str:
    # `whsec_` and base64 of 24 random bytes, the shape Standard Webhooks' libraries read.
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
