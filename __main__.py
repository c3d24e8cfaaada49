"""The uploads system on AWS. This file is the architecture: read the config,
build one component per concern, wire them, export the stack outputs that
`.local/stack.json` shares (`contract/outputs.py`). Resource details live in
`components/`; names, schemas and settings in `contract/`."""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.alarms import OnCallAlarms, OnCallAlarmsArgs
from components.api import HttpApi, HttpApiArgs
from components.auth import UserAuth, UserAuthArgs, hosted_ui_url
from components.events import LifecycleEvents, LifecycleEventsArgs
from components.frontend import SiteContent, SiteContentArgs, StaticSite, StaticSiteArgs
from components.ingest import IngestPipeline, IngestPipelineArgs
from components.malware_scan import MalwareProtection, MalwareProtectionArgs
from components.packaging import build_package
from components.stack_config import load_config
from components.storage import UploadStorage, UploadStorageArgs
from components.table import MetadataTable, MetadataTableArgs
from components.webhooks import WebhookDelivery, WebhookDeliveryArgs
from contract.events import STREAM
from contract.functions import ENV_BUCKET_NAME, ENV_STACK, ENV_TABLE_NAME
from contract.names import PROJECT, Names
from contract.outputs import DashboardConfig, DeployedOutputs
from contract.permissions import GUARDDUTY_MANAGED_RULES, INGEST_ROLE, SCAN_ROLE, arns, kms_values
from contract.scan import ENV_MALWARE_SCAN, SCAN_OFF_VALUE, SCAN_ON_VALUE
from contract.webhooks import DELIVERY

ROOT = Path(__file__).parent
config = load_config(pulumi.get_stack())
names = Names(config.stack)
tags = {"project": PROJECT, "stack": config.stack, "owner": config.owner}
provider = aws.Provider("aws", region=config.region, default_tags={"tags": tags})
opts = pulumi.ResourceOptions(providers=[provider])
account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id
auth_domain = account_id.apply(names.auth_domain)
package = build_package(ROOT)

site = StaticSite("web", StaticSiteArgs(
    bucket_name=account_id.apply(names.site_bucket), force_destroy=config.ephemeral, region=config.region,
    upload_bucket_name=account_id.apply(names.upload_bucket), auth_url=hosted_ui_url(auth_domain, config.region)), opts)
# Ephemeral stacks also serve a dashboard run on the developer's machine.
origins = [site.url, config.local_origin] if config.ephemeral else [site.url]
storage = UploadStorage("files", UploadStorageArgs(
    bucket_name=account_id.apply(names.upload_bucket), force_destroy=config.ephemeral, kms_key_arn=config.kms_key_arn,
    cors_origins=origins, noncurrent_version_days=config.noncurrent_version_days,
    cold_storage_days=config.cold_storage_days, cold_storage_class=config.cold_storage_class,
    malware_scan=config.malware_scan, role_arns={
        symbol: account_id.apply(lambda account, symbol=symbol: arns(names, config.region, account)[symbol])
        for symbol in (INGEST_ROLE, SCAN_ROLE)}), opts)
table = MetadataTable("metadata", MetadataTableArgs(
    table_name=names.table, deletion_protection=not config.ephemeral), opts)
variables = {ENV_TABLE_NAME: table.table.name, ENV_BUCKET_NAME: storage.bucket.bucket, ENV_STACK: config.stack,
             ENV_MALWARE_SCAN: SCAN_ON_VALUE if config.malware_scan else SCAN_OFF_VALUE}
ingest = IngestPipeline("ingest", IngestPipelineArgs(
    names=names, ingest=config.ingest, bucket=storage.bucket, table=table.table, account_id=account_id,
    package=package, variables=variables, kms_key_arn=config.kms_key_arn,
    log_retention_days=config.log_retention_days, malware_scan=config.malware_scan), opts)
events = LifecycleEvents("events", LifecycleEventsArgs(
    names=names, settings=STREAM, table=table.table, package=package, variables=variables,
    log_retention_days=config.log_retention_days), opts)
if config.malware_scan:
    MalwareProtection("scan", MalwareProtectionArgs(names=names, bucket=storage.bucket, resources={
        GUARDDUTY_MANAGED_RULES: account_id.apply(
            lambda account: arns(names, config.region, account)[GUARDDUTY_MANAGED_RULES]),
        **kms_values(config.kms_key_arn)}), opts)
webhooks = WebhookDelivery("webhooks", WebhookDeliveryArgs(
    names=names, delivery=DELIVERY, endpoints=config.webhooks, event_bus_name=events.bus.name, region=config.region,
    account_id=account_id, package=package, variables=variables, kms_key_arn=config.kms_key_arn,
    log_retention_days=config.log_retention_days), opts) if config.webhooks else None
auth = UserAuth("auth", UserAuthArgs(
    names=names, domain_prefix=auth_domain, region=config.region, callback_urls=origins, mfa=config.mfa,
    deletion_protection=not config.ephemeral), opts)
api = HttpApi("api", HttpApiArgs(
    names=names, bucket=storage.bucket, table=table.table, package=package, variables=variables,
    kms_key_arn=config.kms_key_arn, cors_origins=origins, jwt_issuer=auth.issuer, jwt_audience=auth.client.id,
    burst_limit=config.api_burst_limit, rate_limit=config.api_rate_limit, quotas=config.quotas,
    log_retention_days=config.log_retention_days), opts)
SiteContent("web-content", SiteContentArgs(bucket=site.bucket, web_dir=ROOT / "web", config=DashboardConfig(
    api_url=api.url, cognito_domain=auth.hosted_ui_url, user_pool_id=auth.user_pool.id,
    user_pool_client_id=auth.client.id, redirect_uris=origins, region=config.region)), opts)
alarms = OnCallAlarms("oncall", OnCallAlarmsArgs(
    names=names, ingest=config.ingest, region=config.region, api_id=api.api.id,
    subscriptions=config.alarm_subscriptions, malware_scan=config.malware_scan,
    webhooks=bool(config.webhooks)), opts)

for key, value in DeployedOutputs(
    api_url=api.url, web_url=site.url, bucket_name=storage.bucket.bucket, queue_url=ingest.queue.url,
    dead_letter_queue_url=ingest.dead_letter_queue.url, table_name=table.table.name, user_pool_id=auth.user_pool.id,
    user_pool_client_id=auth.client.id, region=config.region, event_bus_name=events.bus.name,
    event_bus_arn=events.bus.arn, event_log_group=events.log_group.name, alarm_topic_arn=alarms.topic.arn,
    webhook_queue_url=webhooks.queue.url if webhooks else None,
    webhook_dead_letter_queue_url=webhooks.dead_letter_queue.url if webhooks else None,
    monitoring_url=alarms.monitoring_url,
).as_dict().items():
    pulumi.export(key, value)
