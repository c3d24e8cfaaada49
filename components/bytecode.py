"""Bytecode for the Lambda package, compiled for the runtime's Python.

Without it every cold start compiles each module it imports from source, as
`/var/task` is read-only and Python cannot cache what it compiled. The
bytecode is hash-based and unchecked (PEP 552): the runtime loads it without
looking at the source's timestamp, which a zip does not carry faithfully, and
the same sources give the same bytes, so the zip stays reproducible.

Lambda runs CPython 3.13 and this machine may not, so the package's bytecode
comes from a pinned CPython 3.13 built for WebAssembly (Pyodide, from npm;
`components/pyodide/`). Bytecode depends on the Python version only, not the
machine: the same pinned compiler gives the same bytes everywhere.
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import subprocess
from pathlib import Path

RUNTIME_CACHE_TAG = "cpython-313"
# importlib.util.MAGIC_NUMBER of every CPython 3.13 release; fixed from 3.13.0rc1.
RUNTIME_MAGIC = (3571).to_bytes(2, "little") + b"\r\n"
# PEP 552 flags: bit 0 hash-based, bit 1 check the source. Unchecked: 0b01.
UNCHECKED_HASH_FLAGS = 0b01
PYODIDE = Path(__file__).resolve().parent / "pyodide"
# What decides the bytes compiled: the pinned compiler, how it is run, and
# the settings below. All of them are part of the package's cache key.
COMPILER_INPUTS = (PYODIDE / "package-lock.json", PYODIDE / "run.mjs", Path(__file__).resolve())
_COMPILE = ("import compileall, py_compile, sys\n"
            "ok = compileall.compile_dir('/tree', quiet=1, "
            "invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
            "f'{sys.implementation.cache_tag} {ok}'")


class BytecodeCompilerMissing(RuntimeError):
    pass


def compile_for_runtime(tree: Path) -> None:
    """Writes `__pycache__/*.cpython-313.pyc` beside every module under `tree`."""
    done = run_on_runtime_python(tree, _COMPILE)
    if done.split() != [RUNTIME_CACHE_TAG, "True"]:
        raise RuntimeError(f"compiling {tree} for {RUNTIME_CACHE_TAG} failed:\n{done}")


def require_compiler() -> str:
    """The `node` that runs the compiler; a deployer without it learns so
    before anything is downloaded."""
    node = shutil.which("node")
    if node is None or not (PYODIDE / "node_modules" / "pyodide").is_dir():
        raise BytecodeCompilerMissing(
            "The Lambda package's bytecode is compiled by Pyodide's CPython 3.13 on Node.js >= 18: "
            f"install Node.js and npm, then `npm ci --prefix {PYODIDE}` (`make test` does).")
    return node


def run_on_runtime_python(tree: Path, snippet: str) -> str:
    """What `snippet`'s last expression gives on the pinned CPython 3.13, with
    `tree` mounted read-write at `/tree` (named by its real path in errors)."""
    done = subprocess.run([require_compiler(), str(PYODIDE / "run.mjs"), str(tree.resolve()), snippet],
                          cwd=PYODIDE, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"CPython 3.13 (Pyodide) failed on {tree}:\n"
                           + (done.stdout + done.stderr).replace("/tree", str(tree)))
    return done.stdout.replace("/tree", str(tree)).strip()


def compile_for_this_python(tree: Path) -> None:
    """The same bytecode for the Python running this, which is what the cold-start
    bench imports (it cannot run 3.13's)."""
    if not compileall.compile_dir(str(tree), quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH):
        raise RuntimeError(f"compiling {tree} failed")


def runtime_bytecode(path: Path) -> bool:
    """Whether `path` is bytecode the runtime loads without reading its source."""
    header = path.read_bytes()[:8]
    return (path.parent.name == "__pycache__" and path.name.endswith(f".{RUNTIME_CACHE_TAG}.pyc")
            and header[:4] == RUNTIME_MAGIC and int.from_bytes(header[4:8], "little") == UNCHECKED_HASH_FLAGS)

