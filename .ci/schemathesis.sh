#!/usr/bin/env bash
# Schemathesis (from PyPI, in a throwaway venv) against a running Confer's
# /api/openapi.json, signed in as a demo practitioner through the
# development sign-in: no response may be a 5xx, and every response must
# match the schema the document gives for it. Bounded by --max-examples and
# an overall timeout.
#   usage: .ci/schemathesis.sh BASE_URL WORK_DIR
set -euo pipefail
base=$1
work=$2
venv="$work/schemathesis-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check schemathesis
fi
"$venv/bin/schemathesis" --version

# Sign in as Sam Patel (development mode, loopback): the person id is on the sign-in page.
jar="$work/schemathesis-cookies"
person=$(curl -sfk "$base/sign-in" | python3 -c '
import re, sys
page = sys.stdin.read()
row = page[page.index("Sam Patel"):]
print(re.search(r"name=\"person_id\" value=\"([^\"]+)\"", row).group(1))')
curl -sfk -c "$jar" -o /dev/null -X POST --data-urlencode "person_id=$person" "$base/dev/sign-in"
cookie=$(awk '$6 ~ /confer/ {print $6"="$7}' "$jar" | head -n 1)
[ -n "$cookie" ] || { echo "no session cookie"; cat "$jar"; exit 1; }
csrf=$(curl -sfk -H "Cookie: $cookie" "$base/api/session" | python3 -c 'import json, sys; print(json.load(sys.stdin)["csrf_token"])')

# From the work dir: schemathesis keeps a .schemathesis/ folder in its working directory.
cd "$work"
timeout 600 "$venv/bin/schemathesis" run "$base/api/openapi.json" \
  --url "$base" \
  --tls-verify false \
  -H "Cookie: $cookie" -H "X-CSRF-Token: $csrf" -H "Origin: $base" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
  --request-timeout 10 \
  --report junit --report-dir "$work/schemathesis-report"
