"""The uploads system on AWS. This file is the architecture: read the config,
build one component per concern, wire them, export the stack outputs that
`.local/stack.json` mirrors. Resource details live in `components/`."""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.alarms import OnCallAlarms, OnCallAlarmsArgs
from components.api import HttpApi, HttpApiArgs
from components.auth import UserAuth, UserAuthArgs, hosted_ui_url
from components.frontend import SiteContent, SiteContentArgs, StaticSite, StaticSiteArgs
from components.ingest import IngestPipeline, IngestPipelineArgs
from components.packaging import build_package
from components.stack_config import load_config
from components.storage import UploadStorage, UploadStorageArgs
from components.table import MetadataTable, MetadataTableArgs
from workers import settings

ROOT = Path(__file__).parent
config = load_config(pulumi.get_stack())
names = settings.Names(config.stack)
tags = {"project": settings.PROJECT, "stack": config.stack, "owner": config.owner}
provider = aws.Provider("aws", region=config.region, default_tags={"tags": tags})
opts = pulumi.ResourceOptions(providers=[provider])
account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id
# Bucket names and Cognito domains are global across accounts; the account id keeps ours unique.
upload_bucket_name = pulumi.Output.concat(names.bucket, "-", account_id)
auth_domain = pulumi.Output.concat(names.prefix, "-", account_id)
package = build_package(ROOT)

site = StaticSite("web", StaticSiteArgs(pulumi.Output.concat(names.prefix, "-web-", account_id), config.ephemeral,
                                        config.region, upload_bucket_name, hosted_ui_url(auth_domain, config.region)), opts)
# Ephemeral stacks also serve a dashboard run on the developer's machine.
origins = [site.url, config.local_origin] if config.ephemeral else [site.url]
storage = UploadStorage("files", UploadStorageArgs(
    upload_bucket_name, config.ephemeral, config.kms_key_arn, origins,
    config.noncurrent_version_days, config.cold_storage_days, config.cold_storage_class), opts)
table = MetadataTable("metadata", MetadataTableArgs(names.table, deletion_protection=not config.ephemeral), opts)
environment = {settings.ENV_TABLE_NAME: table.table.name, settings.ENV_BUCKET_NAME: storage.bucket.bucket,
               settings.ENV_STACK: config.stack}
ingest = IngestPipeline("ingest", IngestPipelineArgs(
    names, config.ingest, storage.bucket, table.table, account_id, package, environment,
    config.kms_key_arn, config.log_retention_days), opts)
auth = UserAuth("auth", UserAuthArgs(names.prefix, auth_domain, config.region, origins, config.mfa,
                                     deletion_protection=not config.ephemeral), opts)
api = HttpApi("api", HttpApiArgs(
    names, storage.bucket, table.table, package, environment, config.kms_key_arn, origins,
    auth.issuer, auth.client.id, config.api_burst_limit, config.api_rate_limit, config.log_retention_days), opts)
SiteContent("web-content", SiteContentArgs(site.bucket, ROOT / "web", {
    "apiUrl": api.url, "cognitoDomain": auth.hosted_ui_url, "userPoolId": auth.user_pool.id,
    "userPoolClientId": auth.client.id, "redirectUris": origins, "region": config.region,
    "scopes": list(settings.OAUTH_SCOPES)}), opts)
alarms = OnCallAlarms("oncall", OnCallAlarmsArgs(names, config.ingest, config.region, api.api.id,
                                                 config.alarm_subscriptions), opts)

pulumi.export("apiUrl", api.url)
pulumi.export("webUrl", site.url)
pulumi.export("bucketName", storage.bucket.bucket)
pulumi.export("queueUrl", ingest.queue.url)
pulumi.export("deadLetterQueueUrl", ingest.dead_letter_queue.url)
pulumi.export("tableName", table.table.name)
pulumi.export("userPoolId", auth.user_pool.id)
pulumi.export("userPoolClientId", auth.client.id)
pulumi.export("alarmTopicArn", alarms.topic.arn)
pulumi.export("region", config.region)
pulumi.export("dashboardUrl", alarms.dashboard_url)
