#!/usr/bin/env bash
# The Python package as a user installs it: `maturin build` makes an abi3
# wheel and `maturin sdist` a source archive; the wheel goes into a fresh
# venv with `pip install <wheel>` (plus the MCP SDK from the registry), and
# the quick start and the MCP demo (a real MCP server behind mcpguard, a
# real client) run there, with nothing from the checkout on sys.path. Fails
# when the wheel misses a file, a module or a dependency.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
maturin=${MATURIN:-$root/.venv/bin/maturin}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$here" && VIRTUAL_ENV=$root/.venv "$maturin" build --quiet --out "$out/dist" 2>&1 | grep -v '^📦\|^🔗\|^🐍\|^📡' || true)
(cd "$here" && VIRTUAL_ENV=$root/.venv "$maturin" sdist --out "$out/dist" >/dev/null)
wheel=$(ls "$out"/dist/mcpguard-*.whl)
case "$wheel" in *abi3*) ;; *) echo "not an abi3 wheel: $wheel" >&2; exit 1 ;; esac
ls "$out"/dist/mcpguard-*.tar.gz >/dev/null
python3 -m venv "$out/venv"
"$out/venv/bin/pip" install --quiet "$wheel" "mcp>=2" uvicorn
cd "$out"  # not the checkout: the package must come from site-packages
"$out/venv/bin/python" - <<'PY'
import mcpguard, sys
assert "site-packages" in mcpguard.__file__, mcpguard.__file__
assert not any("bindings/python" in p for p in sys.path), sys.path
PY
"$out/venv/bin/python" "$root/examples/python/quickstart.py" | diff -u "$root/examples/quickstart.expected" -
"$out/venv/bin/python" "$root/examples/python/mcp_demo.py" | diff -u "$root/examples/mcp_demo.expected" -
echo "python package: abi3 wheel and sdist built; the wheel installed in a fresh venv runs the quick start and the MCP demo"
