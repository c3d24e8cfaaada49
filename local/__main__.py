"""`make dev`: start the local stack, say what is running, stop cleanly on Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading

from local.guardduty import clamd_installed
from local.stack import LocalStack


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--aws-port", type=int, default=4566,
                        help="port for the AWS endpoint, IAM's front before moto (0: any free one)")
    parser.add_argument("--moto-port", type=int, default=0,
                        help="port for moto itself, which only the fronts call (0: any free one)")
    parser.add_argument("--s3-port", type=int, default=4567, help="port for the S3 front (0: any free one)")
    parser.add_argument("--api-port", type=int, default=4000, help="port for the HTTP API (0: any free one)")
    parser.add_argument("--web-port", type=int, default=8080, help="port for the dashboard (0: any free one)")
    parser.add_argument("--sign-in-port", type=int, default=4001, help="port for the Hosted UI (0: any free one)")
    parser.add_argument("--inbox-port", type=int, default=4002,
                        help="port for the webhook inbox, the stack's local endpoint (0: any free one)")
    parser.add_argument("--in-own-group", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.in_own_group:
        raise SystemExit(supervise())

    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    stack = LocalStack(moto_port=args.moto_port, aws_port=args.aws_port, s3_port=args.s3_port, api_port=args.api_port,
                       web_port=args.web_port, hosted_ui_port=args.sign_in_port, malware_scan=clamd_installed(),
                       inbox_port=args.inbox_port)
    try:
        stack.start()
    except OSError as error:
        raise SystemExit(f"The local stack could not start: {error}.\n"
                         "Is another `make dev` running? Other ports: python -m local --help") from None
    try:
        print(banner(stack), flush=True)
        stack.cloudwatch.listeners.append(
            lambda t: print(f"{t.at:%H:%M:%S} alarm {t.alarm}: {t.old} -> {t.new}: {t.reason}", flush=True))
        stopping.wait()
        print("\nStopping the local stack...", flush=True)
    finally:
        stack.stop()
    print("Stopped.")


def supervise() -> int:
    """Run the stack in a process group of its own and stop it on Ctrl-C.

    A terminal's Ctrl-C signals its whole foreground group. Were the stack in
    it, moto and execution environments still importing would die of it
    mid-start, with tracebacks, before the stack could stop them in order."""
    stack = subprocess.Popen([sys.executable, "-m", "local", *sys.argv[1:], "--in-own-group"], process_group=0)

    def stop(*_) -> None:
        stack.terminate()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    return stack.wait()


def _malware_scan(stack: LocalStack) -> str:
    if stack.malware_scan:
        return ("on: GuardDuty emulated with clamd on incoming/ (local/guardduty.py); nothing is released\n"
                "                       until its scan says clean")
    return ("OFF: clamd is not installed, so files are released unscanned and show \"Not scanned\".\n"
            "                       To scan: apt-get install -y clamav-daemon, then make dev again")


def banner(stack: LocalStack) -> str:
    out = stack.outputs
    ingest = stack.ingest
    deployer = stack.credentials()
    return f"""
uploads: the local stack is up (stack "{stack.stack}")

  Dashboard            {out['webUrl']}
                       sign in as {out['demoUser']['username']} (password in {stack.stack_file})

  AWS endpoint         {out['awsEndpointUrl']}   SQS, DynamoDB and its Streams, SSM, Secrets Manager,
                       Cognito, CloudWatch, EventBridge, Logs: IAM enforced
                       before moto ({stack.moto_url}), each caller held to its own policy
  S3 front             {out['awsEndpointUrlS3']}   every S3 client goes through it: IAM and what S3
                       enforces and moto does not (signatures, expiry, POST policies, checksums)
  credentials          functions: their roles'; ops CLI: the on-call operator's (in {stack.stack_file});
                       below: the deployer's, allowed everything
  bucket               {out['bucketName']}  (notifies the queue for incoming/)
  malware scan         {_malware_scan(stack)}
  queue -> DLQ         {out['queueUrl']}
                       {out['deadLetterQueueUrl']}  after {ingest.max_receive_count} receives
  ingest worker        {ingest.maximum_concurrency} environments, batch {ingest.batch_size}, \
window {ingest.batching_window_s}s,
                       timeout {ingest.worker_timeout_s}s, visibility {ingest.visibility_timeout_s}s
                       logs: {stack.log_dir / 'ingest.log'}
  webhook inbox        {stack.inbox.url}   every lifecycle event on the bus {stack.names.event_bus}, delivered
                       signed and verified there (JSON at /events); retries and DLQ: {out['webhookDeadLetterQueueUrl']}
                       logs: {stack.log_dir / 'webhooks.log'}
  table                {out['tableName']}  (its stream feeds the events function)
  event bus            {out['eventBusName']}  every file outcome (docs/events.md); kept in {out['eventLogGroup']}:
                       `python -m ops events FILE_ID`; logs: {stack.log_dir / 'events.log'}
  HTTP API             {out['apiUrl']}   JWT authorizer, CORS for {stack.dashboard_origin}
                       logs: {stack.log_dir / 'api.log'}
  user pool            {out['userPoolId']}  app client {out['userPoolClientId']}
  Hosted UI (sign-in)  {out['hostedUiUrl']}   code flow with PKCE
  demo user            {out['demoUser']['username']}  (password in {stack.stack_file})
  alarms               the contract's {len(stack.cloudwatch.alarm_names)} alarms, evaluated here: transitions
                       print below, notifications reach {stack.cloudwatch.inbox.path};
                       `python -m ops alarms` lists them
  outputs              {stack.stack_file}

Try it (another terminal):
  export AWS_ENDPOINT_URL={out['awsEndpointUrl']} AWS_ENDPOINT_URL_S3={out['awsEndpointUrlS3']} \
AWS_ACCESS_KEY_ID={deployer['AWS_ACCESS_KEY_ID']} AWS_SECRET_ACCESS_KEY={deployer['AWS_SECRET_ACCESS_KEY']} \
AWS_DEFAULT_REGION={out['region']}
  .venv/bin/python -c "import boto3; boto3.client('s3').put_object(Bucket='{out['bucketName']}', \
Key='incoming/demo-user/demo-file/hello.txt', Body=b'hello')"
  .venv/bin/python -c "import boto3; print(boto3.client('dynamodb').scan(TableName='{out['tableName']}')['Items'])"

Call the API as the demo user:
  TOKEN=$(.venv/bin/python -m local.token)
  curl -s -H "Authorization: Bearer $TOKEN" {out['apiUrl']}/files

Ctrl-C stops everything.
"""


if __name__ == "__main__":
    main()
