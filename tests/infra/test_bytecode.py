"""The compiler of the Lambda package's bytecode (components/bytecode.py): what
it writes, and what a deployer sees when it cannot."""

from __future__ import annotations

import sys

import pytest

from components import bytecode


def test_each_module_gets_unchecked_cpython_313_bytecode_beside_it(tmp_path):
    (tmp_path / "package").mkdir()
    (tmp_path / "package" / "__init__.py").write_text("")
    (tmp_path / "package" / "module.py").write_text("VALUE = 6 * 7\n")
    bytecode.compile_for_runtime(tmp_path)
    compiled = sorted(tmp_path.rglob("*.pyc"))
    assert [path.name for path in compiled] == ["__init__.cpython-313.pyc", "module.cpython-313.pyc"]
    assert all(bytecode.runtime_bytecode(path) for path in compiled)


def test_a_module_that_does_not_compile_fails_the_build_naming_it(tmp_path):
    (tmp_path / "broken.py").write_text("def f(:\n")
    with pytest.raises(RuntimeError, match="broken.py"):
        bytecode.compile_for_runtime(tmp_path)


@pytest.mark.skipif(sys.version_info[:2] == (3, 13), reason="this Python is the runtime's")
def test_bytecode_this_python_compiled_is_not_taken_for_the_runtimes(tmp_path):
    (tmp_path / "module.py").write_text("VALUE = 1\n")
    bytecode.compile_for_this_python(tmp_path)
    assert not any(bytecode.runtime_bytecode(path) for path in tmp_path.rglob("*.pyc"))


def test_without_the_compiler_installed_the_build_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(bytecode, "PYODIDE", tmp_path / "pyodide")
    with pytest.raises(bytecode.BytecodeCompilerMissing, match="npm ci --prefix"):
        bytecode.compile_for_runtime(tmp_path)
