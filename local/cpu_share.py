"""Lambda's CPU for an emulated execution environment: a share of a core in
proportion to the function's memory (`contract.ingest.MB_PER_VCPU`), so that
the local stack runs out of time where Lambda would.

The kernel enforces the share where it can: a cgroup of the environment's
own with CFS bandwidth control (cgroup v2 `cpu.max`, or v1
`cpu.cfs_quota_us`), which every process the environment forks joins, as
Lambda's sandbox holds its extraction children. Making one needs root and a
writable cgroup hierarchy; without them the environment's processes are
stopped and continued so that their CPU time keeps to the share, as
`cpulimit` does: coarser (a tenth of a second at a time), and time spent
waiting while stopped is lost, but the CPU a batch gets is the same.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
import time
from pathlib import Path

import psutil

from contract.ingest import MB_PER_VCPU

log = logging.getLogger("local.cpu_share")

# CFS's default period; the quota is the share of it the processes may run.
_PERIOD_US = 100_000
# The kernel refuses quotas under a millisecond.
_MIN_QUOTA_US = 1_000
_names = itertools.count()
# Why no cgroup could be made, said once each: every environment start asks again.
_warned: set[str] = set()


class Cgroup:
    """A cgroup of one environment's processes, with a CPU quota."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def close(self) -> None:
        # Killed processes leave the cgroup once reaped, a moment after the kill.
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)
        log.warning("%s still holds processes; left in place", self.path)


class StopAndContinue:
    """The share kept by stopping the environment's processes whenever their
    CPU time runs ahead of it, for as long as the share needs to catch up.
    Unused share is not banked beyond one tick, as a cgroup's quota is not
    beyond one period."""

    TICK_S = 0.1

    def __init__(self, vcpus: float) -> None:
        self.vcpus = vcpus
        self._closed = threading.Event()

    def add(self, pid: int) -> None:
        threading.Thread(target=self._keep_to_share, args=(psutil.Process(pid),), daemon=True,
                         name=f"cpu-share-{pid}").start()

    def close(self) -> None:
        self._closed.set()

    def _keep_to_share(self, root: psutil.Process) -> None:
        try:
            last_cpu, last_at, debt = _tree_cpu_s(root), time.monotonic(), 0.0
            while not self._closed.wait(self.TICK_S):
                cpu, now = _tree_cpu_s(root), time.monotonic()
                debt = max(0.0, debt + cpu - last_cpu - self.vcpus * (now - last_at))
                last_cpu, last_at = cpu, now
                if debt > 0:
                    tree = _signal_tree(root, signal.SIGSTOP)
                    self._closed.wait(debt / self.vcpus)
                    for process in tree:
                        _signal(process, signal.SIGCONT)
        except psutil.NoSuchProcess:
            return


def for_environment(memory_mb: int) -> Cgroup | StopAndContinue:
    """What gives one execution environment's processes the CPU its memory buys."""
    share = memory_mb / MB_PER_VCPU
    quota_us = max(_MIN_QUOTA_US, round(share * _PERIOD_US))
    failures = []
    for make in (_cgroup_v2, _cgroup_v1):
        try:
            return make(quota_us)
        except (OSError, LookupError) as failure:
            failures.append(f"{make.__name__}: {failure}")
    reasons = "; ".join(failures)
    if reasons not in _warned:
        _warned.add(reasons)
        log.warning("No cgroup for the execution environments' CPU shares (%s); their processes are stopped "
                    "and continued to keep to their shares instead", reasons)
    return StopAndContinue(share)


def _cgroup_v2(quota_us: int) -> Cgroup:
    parent = _own_cgroup("cgroup2", "")
    if "cpu" not in (parent / "cgroup.controllers").read_text().split():
        raise LookupError(f"{parent} has no cpu controller")
    if "cpu" not in (parent / "cgroup.subtree_control").read_text().split():
        (parent / "cgroup.subtree_control").write_text("+cpu")
    return _made(parent, {"cpu.max": f"{quota_us} {_PERIOD_US}"})


def _cgroup_v1(quota_us: int) -> Cgroup:
    return _made(_own_cgroup("cgroup", "cpu"), {"cpu.cfs_period_us": str(_PERIOD_US),
                                                "cpu.cfs_quota_us": str(quota_us)})


def _made(parent: Path, settings: dict[str, str]) -> Cgroup:
    path = parent / f"uploads-{os.getpid()}-{next(_names)}"
    path.mkdir()
    try:
        for name, value in settings.items():
            (path / name).write_text(value)
    except OSError:
        path.rmdir()
        raise
    return Cgroup(path)


def _own_cgroup(fs_type: str, controller: str) -> Path:
    """Where this process's cgroup of `controller` is mounted (v1), or its
    cgroup in the unified hierarchy (v2, controller "")."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, own = line.split(":", 2)
        if (controller in controllers.split(",")) if controller else controllers == "":
            break
    else:
        raise LookupError(f"this process is in no {fs_type} {controller} hierarchy")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, described = line.partition(" - ")
        mount_root, mount_point = fields.split()[3:5]
        found_type, _, options = described.split()[:3]
        if found_type == fs_type and (not controller or controller in options.split(",")):
            # A mount of a sub-hierarchy (a container without a cgroup namespace) starts below the root.
            relative = own[len(mount_root):] if own.startswith(mount_root) else own
            return Path(mount_point) / relative.lstrip("/")
    raise LookupError(f"no {fs_type} {controller} hierarchy is mounted")


def _tree_cpu_s(root: psutil.Process) -> float:
    """CPU seconds of `root`, of the children it has reaped, and of those still running."""
    times = root.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in root.children(recursive=True):
        try:
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
        except psutil.NoSuchProcess:
            continue
    return total


def _signal_tree(root: psutil.Process, number: int) -> list[psutil.Process]:
    tree = [root, *root.children(recursive=True)]
    for process in tree:
        _signal(process, number)
    return tree


def _signal(process: psutil.Process, number: int) -> None:
    try:
        process.send_signal(number)
    except psutil.NoSuchProcess:
        pass
