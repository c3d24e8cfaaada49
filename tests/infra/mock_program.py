"""Runs the real `__main__.py` under Pulumi's mocks for one stack and writes
every registered resource (type, name, inputs, parent, depends_on) and the
stack outputs as JSON.

A subprocess per stack, because the Pulumi runtime keeps global state (the
root stack, the config) that a second program run in one process would see.

    python tests/infra/mock_program.py STACK CONFIG_JSON OUT_JSON
"""

from __future__ import annotations

import json
import logging
import runpy
import string
import sys
from pathlib import Path

import pulumi
from pulumi.runtime import mocks
from pulumi.runtime.settings import get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "123456789012"


class CloudMocks(pulumi.runtime.Mocks):
    """Answers like AWS would, with the few computed outputs the program reads."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.inputs: dict[tuple[str, str], dict] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.inputs[(args.typ, args.name)] = args.inputs
        name = args.inputs.get("name") or args.inputs.get("bucket") or args.name
        state = {**args.inputs, **self._computed(args.typ, name, args.inputs)}
        return state.get("id", f"{name}-id"), state

    def _computed(self, typ: str, name: str, inputs: dict) -> dict:
        region, account = self.region, ACCOUNT_ID
        service = typ.split(":")[1].split("/")[0]
        computed = {"arn": f"arn:aws:{service}:{region}:{account}:{name}"}
        if typ == "aws:s3/bucket:Bucket":
            computed = {"id": name, "arn": f"arn:aws:s3:::{name}",
                        "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com"}
        elif typ == "aws:sqs/queue:Queue":
            computed = {"arn": f"arn:aws:sqs:{region}:{account}:{name}",
                        "url": f"https://sqs.{region}.amazonaws.com/{account}/{name}"}
        elif typ == "aws:dynamodb/table:Table":
            computed = {"arn": f"arn:aws:dynamodb:{region}:{account}:table/{name}"}
            if inputs.get("streamEnabled"):
                # A stream's ARN ends in its label, the time it was turned on.
                computed["streamArn"] = f"{computed['arn']}/stream/2026-01-01T00:00:00.000"
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            computed = {"arn": f"arn:aws:logs:{region}:{account}:log-group:{name}"}
        elif typ == "aws:iam/role:Role":
            computed = {"arn": f"arn:aws:iam::{account}:role/{name}"}
        elif typ == "aws:lambda/function:Function":
            computed = {"arn": f"arn:aws:lambda:{region}:{account}:function:{name}"}
        elif typ == "aws:apigatewayv2/api:Api":
            computed = {"id": "a1b2c3", "apiEndpoint": f"https://a1b2c3.execute-api.{region}.amazonaws.com",
                        "executionArn": f"arn:aws:execute-api:{region}:{account}:a1b2c3"}
        elif typ == "aws:cloudfront/distribution:Distribution":
            computed = {"id": "E2EXAMPLE", "arn": f"arn:aws:cloudfront::{account}:distribution/E2EXAMPLE",
                        "domainName": "d111111abcdef8.cloudfront.net"}
        elif typ == "aws:cognito/userPool:UserPool":
            computed = {"id": f"{region}_AbCdEf123"}
        elif typ == "aws:cloudwatch/eventRule:EventRule":
            # A rule on a custom bus is named under the bus.
            bus = inputs.get("eventBusName")
            computed = {"arn": f"arn:aws:events:{region}:{account}:rule/{f'{bus}/' if bus else ''}{name}"}
        elif typ == "aws:cloudwatch/eventBus:EventBus":
            computed = {"arn": f"arn:aws:events:{region}:{account}:event-bus/{name}"}
        elif typ == "aws:sns/topic:Topic":
            computed = {"arn": f"arn:aws:sns:{region}:{account}:{name}"}
        elif typ == "aws:ssm/parameter:Parameter":
            # A hierarchical name keeps its leading slash as the ARN's separator.
            computed = {"arn": f"arn:aws:ssm:{region}:{account}:parameter{name}"}
        elif typ == "random:index/randomPassword:RandomPassword":
            alphabet = string.ascii_letters + string.digits
            computed = {"result": "".join(alphabet[i % len(alphabet)] for i in range(int(inputs["length"])))}
        return computed

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci", "userId": "AIDACI"}
        raise NotImplementedError(f"the program made an unexpected call: {args.token}")


class RecordingMonitor(mocks.MockMonitor):
    """Keeps what the mocks' new_resource never sees: parent and depends_on."""

    def __init__(self, cloud: CloudMocks) -> None:
        super().__init__(cloud)
        self.cloud = cloud
        self.records: list[dict] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.records.append({
                "type": request.type,
                "name": request.name,
                "urn": response.urn,
                "custom": request.custom,
                "provider": request.provider,
                "parent": request.parent,
                "dependsOn": list(request.dependencies),
                "retainOnDelete": request.retainOnDelete,
                "propertyDependencies": {key: list(deps.urns) for key, deps in request.propertyDependencies.items()},
                "inputs": self.cloud.inputs.get((request.type, request.name), {}),
            })
        return response


class WarningLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run(stack: str, config: dict[str, str]) -> dict:
    sys.path.insert(0, str(ROOT))
    warnings = WarningLog()
    logger = logging.getLogger("pulumi-mocks")
    logger.addHandler(warnings)
    cloud = CloudMocks(config.get("aws:region", "unset"))
    monitor = RecordingMonitor(cloud)
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(cloud, project="uploads", stack=stack, preview=False, monitor=monitor, logger=logger)
    _sync_await(run_pulumi_func(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")))
    outputs = {
        key: _sync_await(pulumi.Output.from_input(value).future())
        for key, value in get_root_resource().outputs.items()
    }
    return {"resources": monitor.records, "outputs": outputs, "warnings": warnings.messages}


def main() -> None:
    stack, config_json, out = sys.argv[1:]
    result = run(stack, json.loads(config_json))
    Path(out).write_text(json.dumps(result, indent=1, sort_keys=True, default=_asset))


def _asset(value: object) -> dict:
    if isinstance(value, (pulumi.FileArchive, pulumi.FileAsset)):
        return {type(value).__name__: value.path}
    raise TypeError(f"cannot record {value!r}")


if __name__ == "__main__":
    main()
