# Steps the bench/*_env.sh scripts share. Sourced, not run; the sourcing script defines `say`.

# venv_install VENV PYTHON PIN...: create VENV with PYTHON unless it has a python, then pip install the
# pins into it.
venv_install() {
    local venv=$1 python=$2
    shift 2
    if [ ! -x "$venv/bin/python" ]; then
        say "creating venv $venv with $python"
        "$python" -m venv "$venv"
    fi
    say "pip install $* (a few minutes on first run)"
    # (this machine's pip config names local indexes that warn once per package; hide that noise)
    "$venv/bin/python" -m pip install -q "$@" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}
