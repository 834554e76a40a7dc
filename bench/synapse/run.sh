#!/usr/bin/env bash
# The Synapse side of `confer-bench --compare`: installs the Matrix homeserver
# Synapse (PyPI `matrix-synapse`) into a throwaway virtual environment,
# writes a loopback configuration with the rate limits lifted for the
# benchmark users, and runs it in the foreground (`exec`, so the caller's
# child PID is Synapse's own and its memory and CPU can be read from /proc).
# Nothing of Synapse's is kept in this repository.
#
#   bench/synapse/run.sh install                 # create the venv (once)
#   bench/synapse/run.sh version                 # print the installed version
#   bench/synapse/run.sh serve DIR PORT sqlite
#   bench/synapse/run.sh serve DIR PORT postgres HOST DBPORT DBNAME USER
#
# SYNAPSE_VENV (default /tmp/confer-bench-synapse-venv) chooses the venv;
# SYNAPSE_VERSION pins the package version (default: the newest).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${SYNAPSE_VENV:-/tmp/confer-bench-synapse-venv}"

install() {
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import synapse, psycopg2' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip >&2
    "$venv/bin/pip" install --quiet "matrix-synapse${SYNAPSE_VERSION:+==$SYNAPSE_VERSION}" psycopg2-binary >&2
  fi
}

case "${1:-}" in
  install) install ;;
  version) install; "$venv/bin/python" -c 'import synapse; print(synapse.__version__)' ;;
  serve)
    dir="$2"; port="$3"; engine="$4"
    install
    mkdir -p "$dir"
    cfg="$dir/homeserver.yaml"
    if [ ! -f "$cfg" ]; then
      # The generated file carries the signing key, macaroon and form secrets.
      (cd "$dir" && "$venv/bin/python" -m synapse.app.homeserver --server-name bench.localhost \
        --config-path "$cfg" --data-directory "$dir" --generate-config --report-stats=no >&2)
      # Our own file (below, rewritten on every start) sets these.
      python3 - "$cfg" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r'(?ms)^listeners:.*?(?=^\S)', '', s)
s = re.sub(r'(?ms)^database:.*?(?=^\S)', '', s)
s = re.sub(r'(?m)^(log_config|report_stats):.*\n', '', s)
open(p, 'w').write(s)
PY
      cat > "$dir/bench.log.config" <<LOG
version: 1
formatters:
  precise: {format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s'}
handlers:
  file: {class: logging.FileHandler, formatter: precise, filename: $dir/homeserver.log}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
LOG
    fi
    if [ "$engine" = postgres ]; then
      db="database:
  name: psycopg2
  args:
    user: $8
    host: $5
    port: $6
    database: $7
    cp_min: 5
    cp_max: 10"
    else
      db="database:
  name: sqlite3
  args:
    database: $dir/homeserver.db"
    fi
    sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$dir|g" "$here/homeserver-bench.yaml" > "$dir/bench.yaml"
    printf '%s\n' "$db" >> "$dir/bench.yaml"
    exec "$venv/bin/python" -m synapse.app.homeserver --config-path "$cfg" --config-path "$dir/bench.yaml"
    ;;
  *) echo "usage: $0 install | version | serve DIR PORT sqlite|postgres [HOST DBPORT DBNAME USER]" >&2; exit 2 ;;
esac
