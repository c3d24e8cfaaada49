"""Builds the one Lambda zip every function shares: `workers/` and the
`contract/` it shares with the rest of the system, plus the requirements,
installed for the Lambda runtime rather than for this machine.

The build is content-addressed: the zip's name is a hash of everything that goes
into it, so an unchanged tree reuses the zip on disk, and the zip itself is
byte-for-byte reproducible so Pulumi (and Lambda's CodeSha256) see no change.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from components import bytecode

# Lambda python3.13 runs on Amazon Linux 2023 (glibc 2.34) on Graviton. Some
# wheels (Pillow 13) no longer ship manylinux2014 builds, so the newer manylinux
# tags the runtime supports are accepted too. pip matches each tag exactly, not
# every older glibc, so pymediainfo's manylinux_2_27 build needs its own.
PIP_PLATFORM_ARGS = (
    "--platform", "manylinux2014_aarch64",
    "--platform", "manylinux_2_27_aarch64",
    "--platform", "manylinux_2_28_aarch64",
    "--platform", "manylinux_2_34_aarch64",
    "--implementation", "cp",
    "--python-version", "3.13",
    "--only-binary=:all:",
)
# The runtime already provides the AWS SDK; a second copy pulled in by
# aws-xray-sdk would add ~25 MB and shadow the runtime's patched version.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
# The packages that ship in the zip, as top-level directories of the tree.
PACKAGES = ("contract", "workers")
# Bumped whenever the zip layout changes, so old cached zips are never reused.
FORMAT_VERSION = "3"
# A fixed timestamp and mode make the zip depend on content only.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644 << 16
STALE_AFTER_S = 3600


@dataclass(frozen=True)
class LambdaPackage:
    path: Path
    # base64 SHA-256 of the zip: what Lambda reports as CodeSha256.
    sha256_b64: str


def build_package(root: Path) -> LambdaPackage:
    """Returns the zip for `root`'s PACKAGES, building it into `root/build` only
    when its inputs changed."""
    build = root / "build"
    requirements = root / "workers" / "requirements.txt"
    deps_key = _digest([" ".join(PIP_PLATFORM_ARGS).encode(), requirements.read_bytes(),
                        *(path.read_bytes() for path in bytecode.COMPILER_INPUTS)])
    sources = sorted(source for package in PACKAGES for source in _files(root / package, root))
    zip_key = _digest(
        [FORMAT_VERSION.encode(), deps_key.encode()]
        + [rel.encode() + b"\0" + path.read_bytes() for rel, path in sources]
    )
    target = build / f"lambda-{zip_key[:20]}.zip"
    if not target.exists():
        bytecode.require_compiler()
        deps = _install_dependencies(requirements, build / "deps" / deps_key[:20])
        with tempfile.TemporaryDirectory(dir=build, prefix=".sources-") as staging:
            tree = Path(staging)
            for rel, path in sources:
                (tree / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, tree / rel)
            bytecode.compile_for_runtime(tree)
            _write_zip(target, _files(deps, deps, with_bytecode=True) + _files(tree, tree, with_bytecode=True))
        _prune(build, keep={target, deps})
    return LambdaPackage(target, base64.b64encode(hashlib.sha256(target.read_bytes()).digest()).decode())


def _prune(build: Path, keep: set[Path]) -> None:
    """Old builds are rebuilt on demand; an hour's grace leaves alone one that a
    concurrent run (a preview beside a test run) may still be reading."""
    cutoff = time.time() - STALE_AFTER_S
    for stale in [*build.glob("lambda-*.zip"), *(build / "deps").iterdir()]:
        if stale in keep or stale.name.startswith(".") or stale.stat().st_mtime > cutoff:
            continue
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def _install_dependencies(requirements: Path, target: Path) -> Path:
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
             "--disable-pip-version-check", "--no-warn-conflicts", *PIP_PLATFORM_ARGS,
             "--target", str(staging), "-r", str(requirements)],
            check=True,
        )
        for name in os.listdir(staging):
            if name.split("-")[0] in RUNTIME_PROVIDED or name == "bin":
                shutil.rmtree(staging / name)
        bytecode.compile_for_runtime(staging)
        # A rename is atomic, so a concurrent or interrupted build never leaves
        # a half-installed directory that a later build would trust.
        try:
            os.replace(staging, target)
        except OSError:
            # A concurrent build (another test worker) renamed the same
            # requirements' install first; it is as good as ours.
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _files(directory: Path, relative_to: Path, with_bytecode: bool = False) -> list[tuple[str, Path]]:
    """The sources under `directory`, and with them the bytecode compiled for
    the runtime; never bytecode this machine's Python left."""
    return sorted(
        (path.relative_to(relative_to).as_posix(), path)
        for path in directory.rglob("*")
        if path.is_file() and (("__pycache__" not in path.parts and path.suffix != ".pyc")
                               or (with_bytecode and bytecode.runtime_bytecode(path)))
    )


def _write_zip(target: Path, entries: list[tuple[str, Path]]) -> None:
    staging = target.with_suffix(f".{os.getpid()}.tmp")
    with zipfile.ZipFile(staging, "w") as archive:
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, ZIP_EPOCH)
            info.external_attr = FILE_MODE
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED, 9)
    os.replace(staging, target)


def _digest(parts: list[bytes]) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(hashlib.sha256(part).digest())
    return hasher.hexdigest()
