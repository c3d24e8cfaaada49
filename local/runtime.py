"""Lambda execution environments, emulated as processes.

An execution environment imports the handler once (the init phase) and then
serves one invocation at a time, with the function's environment variables and a
Lambda-shaped context. Module state (Powertools' logger, metrics and batch
processor, cached clients) therefore belongs to one environment, exactly as in
Lambda, and concurrent invocations need several environments. An invocation that
outlives the function timeout, or whose processes together use more than the
function's memory size, kills its environment, as Lambda does; the next
invocation gets a fresh one. Each environment runs on the CPU its memory buys
(local/cpu_share.py), so CPU-bound work takes as long as on Lambda.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from local import cpu_share, faults

# moto's default account: what ARNs on the local stack carry.
ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str  # "workers.ingest.handler.handler"
    timeout_s: float
    memory_mb: int
    region: str
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.name}"

    def lambda_environment(self) -> dict[str, str]:
        """The variables Lambda sets for every function, plus the function's own."""
        return {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{uuid.uuid4().hex}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "_HANDLER": self.handler,
            **self.environment,
        }


class LambdaContext:
    """The attributes and method of Lambda's Python context object."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], request_id: str, deadline: float) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = env["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = env["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


@dataclass(frozen=True)
class Invocation:
    request_id: str
    response: Any = None
    error: str | None = None  # set when the function raised, timed out or died
    duration_ms: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None


def _serve(conn, spec: FunctionSpec, log_path: str | None) -> None:
    """The environment's process: init once, then invoke on request."""
    # Ctrl-C reaches the whole process group; the stack stops environments itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    env = spec.lambda_environment()
    os.environ.update(env)
    if log_path:
        log = open(log_path, "a", buffering=1)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
    module_name, func_name = spec.handler.rsplit(".", 1)
    try:
        # Before the handler's import, so every client it makes injects them.
        injector = faults.install_from_env()
        func = getattr(importlib.import_module(module_name), func_name)
    except Exception:
        conn.send(("init_error", traceback.format_exc()))
        return
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        event, request_id, deadline = message
        context = LambdaContext(spec, env, request_id, deadline)
        if injector is not None:
            injector.begin_invocation()
        try:
            conn.send(("ok", func(event, context)))
        except Exception as exc:
            traceback.print_exc()
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


# How often a running invocation's memory is measured against its limit.
_WATCH_INTERVAL_S = 0.05


class _Watched:
    """Lambda's memory limit: the execution environment and every process it
    started share the function's memory size, and reaching it kills them all.
    Proportional set size counts pages a forked child shares with its parent
    once, as the kernel's accounting does."""

    def __init__(self, pid: int, memory_mb: int) -> None:
        self._process = psutil.Process(pid)
        self._limit = memory_mb * 1024 * 1024

    def exceeded(self) -> bool:
        try:
            processes = [self._process, *self._process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return False
        used = 0
        for process in processes:
            try:
                used += process.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return used > self._limit


class ExecutionEnvironment:
    def __init__(self, spec: FunctionSpec, log_path: Path | None = None,
                 on_invoked: Callable[[str, Invocation], None] | None = None) -> None:
        self.spec = spec
        self.log_path = log_path
        # Told of every invocation, as Lambda's metrics are (local/cloudwatch/).
        self.on_invoked = on_invoked
        self._process = None
        self._conn = None
        self._cpu = None

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve, args=(child, self.spec, str(self.log_path) if self.log_path else None), daemon=True
        )
        if self._cpu is not None:
            # The last environment died by itself, without a stop.
            self._cpu.close()
        self._cpu = cpu_share.for_environment(self.spec.memory_mb)
        self._process.start()
        self._cpu.add(self._process.pid)
        self._conn = parent
        # Lambda gives the init phase 10 s of its own, outside the function timeout.
        if not parent.poll(max(10.0, self.spec.timeout_s)):
            self.stop()
            raise RuntimeError(f"{self.spec.name}: init phase did not finish")
        status, detail = parent.recv()
        if status != "ready":
            self.stop()
            raise RuntimeError(f"{self.spec.name}: init failed\n{detail}")

    def invoke(self, event: dict) -> Invocation:
        invocation = self._invoke(event)
        if self.on_invoked is not None:
            self.on_invoked(self.spec.name, invocation)
        return invocation

    def _invoke(self, event: dict) -> Invocation:
        if self._process is None or not self._process.is_alive():
            self._start()
        request_id = str(uuid.uuid4())
        started = time.time()
        deadline = started + self.spec.timeout_s
        self._conn.send((event, request_id, deadline))
        limit = _Watched(self._process.pid, self.spec.memory_mb)
        while not self._conn.poll(_WATCH_INTERVAL_S):
            if limit.exceeded():
                self.stop()
                return Invocation(request_id, duration_ms=(time.time() - started) * 1000,
                                  error=f"Runtime exited with error: signal: killed (used more than "
                                        f"{self.spec.memory_mb} MB, the function's memory size)")
            if time.time() >= deadline:
                self.stop()
                return Invocation(request_id, error=f"Task timed out after {self.spec.timeout_s:.2f} seconds",
                                  duration_ms=(time.time() - started) * 1000)
        try:
            status, payload = self._conn.recv()
        except EOFError:
            self.stop()
            return Invocation(request_id, error="Runtime exited", duration_ms=(time.time() - started) * 1000)
        duration_ms = (time.time() - started) * 1000
        if status == "ok":
            return Invocation(request_id, response=payload, duration_ms=duration_ms)
        return Invocation(request_id, error=payload, duration_ms=duration_ms)

    def stop(self) -> None:
        # Taken first: the stack's teardown may stop an environment its poller is stopping.
        process, self._process, self._conn = self._process, None, None
        cpu, self._cpu = self._cpu, None
        if process is not None and process.pid is not None:
            # Lambda ends the whole sandbox: an extraction child goes with it.
            try:
                for child in psutil.Process(process.pid).children(recursive=True):
                    child.kill()
            except psutil.NoSuchProcess:
                pass
            process.kill()
            process.join(5)
        if cpu is not None:
            cpu.close()
