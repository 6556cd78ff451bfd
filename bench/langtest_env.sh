#!/usr/bin/env bash
# Prepare an isolated LangTest environment for the peers side-by-side benchmark (bench/peers.py).
#
# LangTest cannot live in the project venv: its text-classification extra wants transformers<5 and
# pandas<3, and the project runs transformers 5 and pandas 3. So it gets its own virtualenv.
# LangTest 2.8 needs Python >= 3.12; the newest release that installs on this machine's Python 3.11
# (and so with the local CPU torch wheel) is 2.7.0.
#
# Idempotent: every step checks whether its result is already there. Run it again at will.
#
#   bash bench/langtest_env.sh
#
# Then: bench/.venv-langtest/bin/python bench/_langtest_runner.py --help
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$BENCH_DIR/.venv-langtest"
PYTHON="${PYTHON:-python3.11}"
LANGTEST_VERSION="2.7.0"
TRANSFORMERS_VERSION="4.57.5"

# Pins: langtest[transformers] resolves with transformers 4.57.5 + hub<1.0 (the same pair as the
# TextAttack venv). torch is pinned to the CPU wheel already on this machine's find-links
# (pip config: find-links=/opt/wheels) so pip does not fetch a CUDA build.
# openai: langtest.transform.utils imports it unconditionally, though no extra but [openai] names it.
LT_PINS=("langtest[transformers]==$LANGTEST_VERSION" "transformers==$TRANSFORMERS_VERSION"
    "huggingface-hub<1.0" "torch==2.13.0" "openai>=1.61.1,<2")

say() { printf '[langtest_env] %s\n' "$*"; }
# shellcheck source=bench/_venv.sh
source "$BENCH_DIR/_venv.sh"

# --- virtualenv with LangTest ----------------------------------------------------------
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$LANGTEST_VERSION" "$TRANSFORMERS_VERSION" <<'EOF' 2>/dev/null
import importlib.metadata as m, sys
ok = (m.version("langtest") == sys.argv[1] and m.version("transformers") == sys.argv[2]
      and m.version("torch").startswith("2.13.0"))
m.version("openai")
sys.exit(0 if ok else 1)
EOF
then
    say "venv $VENV already has langtest $LANGTEST_VERSION"
else
    venv_install "$VENV" "$PYTHON" "${LT_PINS[@]}"
fi

# --- smoke check: imports offline, and the robustness/bias tests the benchmark uses exist -----
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VENV/bin/python" - <<'EOF'
import importlib.metadata as m

from langtest import Harness  # noqa: F401
from langtest.transform.robustness import RobustnessTestFactory
from langtest.transform.bias import BiasTestFactory

rob = RobustnessTestFactory.available_tests()
bias = BiasTestFactory.available_tests()
need = {"add_typo", "lowercase", "uppercase", "add_punctuation", "strip_punctuation", "add_contraction"}
missing = sorted(need - set(rob))
assert not missing, f"langtest lacks robustness tests {missing}"
print(f"[langtest_env] check: langtest {m.version('langtest')}, transformers {m.version('transformers')}, "
      f"torch {m.version('torch')}; {len(rob)} robustness and {len(bias)} bias tests")
EOF
say "ready: $VENV/bin/python bench/_langtest_runner.py ..."
