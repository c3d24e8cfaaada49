// Runs a Python snippet on Pyodide's CPython with a directory of this machine
// mounted read-write at /tree: node run.mjs DIRECTORY SNIPPET. What the snippet's
// last expression evaluates to is printed. components/bytecode.py is the caller.
import { loadPyodide } from "pyodide";

const [directory, snippet] = process.argv.slice(2);
const python = await loadPyodide();
python.FS.mkdirTree("/tree");
python.FS.mount(python.FS.filesystems.NODEFS, { root: directory }, "/tree");
try {
  console.log(String(python.runPython(snippet)));
} catch (error) {
  // Python's own traceback, not the minified runtime line Node would print.
  console.error(error.message);
  process.exit(1);
}
