#!/usr/bin/env bash
# Prepare an isolated TextAttack environment for the PWWS side-by-side benchmark.
#
# TextAttack cannot live in the project venv: it resolves only with transformers 4.x
# (flair needs transformers<5), so it gets its own virtualenv. It also needs NLTK data
# that no package installs offline (WordNet in NLTK layout, the English stop-word list),
# and it tries NLTK downloads on first import unless a marker file exists in its cache.
#
# Idempotent: every step checks whether its result is already there. Run it again at will.
#
#   bash bench/textattack_env.sh
#
# Then: bench/.venv-textattack/bin/python bench/_pwws_runner.py --help
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$BENCH_DIR/.venv-textattack"
NLTK_DATA_DIR="$BENCH_DIR/.nltk_data"
TA_CACHE="$BENCH_DIR/.textattack_cache"
PYTHON="${PYTHON:-python3.11}"

# Pins (see shared/NOTES-DEPS.md, "TextAttack"): a plain `pip install textattack` backtracks
# into an sklearn source build; transformers 4.57.5 + hub<1.0 resolve. torch is pinned to the
# CPU wheel already on this machine's find-links so pip does not fetch a CUDA build.
TA_PINS=(textattack "transformers==4.57.5" "huggingface-hub<1.0" "torch==2.13.0")

say() { printf '[textattack_env] %s\n' "$*"; }
# shellcheck source=bench/_venv.sh
source "$BENCH_DIR/_venv.sh"

# --- (a) Debian WordNet ---------------------------------------------------------------
if [ -d /usr/share/wordnet ] && [ -f /usr/share/man/man5/lexnames.5WN.gz ]; then
    say "WordNet (Debian wordnet-base) already installed"
else
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    say "installing Debian wordnet-base wordnet-sense-index"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        wordnet-base wordnet-sense-index >/dev/null
fi

# --- (b) virtualenv with TextAttack ----------------------------------------------------
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata as m, sys
ok = m.version("transformers") == "4.57.5" and m.version("torch").startswith("2.13.0")
m.version("textattack")
sys.exit(0 if ok else 1)
EOF
then
    say "venv $VENV already has textattack $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("textattack"))')"
else
    venv_install "$VENV" "$PYTHON" "${TA_PINS[@]}"
fi

# --- (c) NLTK data and TextAttack cache -------------------------------------------------
WN_DIR="$NLTK_DATA_DIR/corpora/wordnet"
if [ -f "$WN_DIR/data.noun" ] && [ -f "$WN_DIR/lexnames" ] && [ ! -L "$WN_DIR/data.noun" ]; then
    say "NLTK WordNet already at $WN_DIR"
else
    say "copying /usr/share/wordnet/* to $WN_DIR (nltk refuses symlinks that escape its root)"
    mkdir -p "$WN_DIR"
    cp -rL /usr/share/wordnet/. "$WN_DIR/"
    # Debian does not ship `lexnames`; rebuild it from the table in lexnames(5WN), whose rows
    # read "00<TAB>adj.all<TAB>description". The category column (1 noun, 2 verb, 3 adj,
    # 4 adv) is not in the table; it follows from the file name's prefix.
    zcat /usr/share/man/man5/lexnames.5WN.gz \
        | awk -F'\t' '$1 ~ /^[0-9][0-9]$/ {
              name = $2; gsub(/[ \t]+/, "", name); split(name, p, ".")
              cat = (p[1] == "noun") ? 1 : (p[1] == "verb") ? 2 : (p[1] == "adj") ? 3 : (p[1] == "adv") ? 4 : 0
              if (cat) printf "%s\t%s\t%d\n", $1, name, cat }' \
        | sort -u >"$WN_DIR/lexnames.tmp"
    n=$(wc -l <"$WN_DIR/lexnames.tmp")
    if [ "$n" -ne 45 ]; then
        say "ERROR: expected 45 lexnames lines from lexnames.5WN.gz, got $n" >&2
        exit 1
    fi
    mv "$WN_DIR/lexnames.tmp" "$WN_DIR/lexnames"
fi

SW_FILE="$NLTK_DATA_DIR/corpora/stopwords/english"
if [ -f "$SW_FILE" ] && [ "$(wc -l <"$SW_FILE")" -eq 179 ]; then
    say "NLTK English stop words already at $SW_FILE"
else
    say "writing NLTK English stop words (179) to $SW_FILE"
    mkdir -p "$(dirname "$SW_FILE")"
    # The classic NLTK `stopwords` corpus list for English, one word per line, in its order.
    tr ' ' '\n' >"$SW_FILE" <<'EOF'
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him his himself she she's her hers herself it it's its itself they them their theirs themselves what which who whom this that that'll these those am is are was were be been being have has had having do does did doing a an the and but if or because as until while of at by for with about against between into through during before after above below to from up down in out on off over under again further then once here there when where why how all any both each few more most other some such no nor not only own same so than too very s t can will just don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
EOF
    n=$(wc -l <"$SW_FILE")
    if [ "$n" -ne 179 ]; then
        say "ERROR: stop-word file has $n lines, expected 179" >&2
        exit 1
    fi
fi

mkdir -p "$TA_CACHE"
if [ -f "$TA_CACHE/post_install_check_3" ]; then
    say "TextAttack cache $TA_CACHE already marked post-install-checked"
else
    say "marking $TA_CACHE post-install-checked (skips NLTK downloads on import)"
    touch "$TA_CACHE/post_install_check_3"
fi

# --- smoke check ------------------------------------------------------------------------
NLTK_DATA="$NLTK_DATA_DIR" TA_CACHE_DIR="$TA_CACHE" "$VENV/bin/python" - <<'EOF'
import nltk
from nltk.corpus import stopwords, wordnet as wn
assert len(stopwords.words("english")) == 179
print(f"[textattack_env] check: nltk {nltk.__version__}, wordnet {wn.get_version()}, "
      f"{len(list(wn.synsets('good')))} synsets for 'good', 179 stop words")
EOF
say "ready: $VENV/bin/python bench/_pwws_runner.py ..."
