#!/usr/bin/env bash
# Schemathesis (from PyPI, in a throwaway venv) against a running Confer's
# /api/openapi.json, signed in as a demo practitioner through the
# development sign-in: no response may be a 5xx, and every response must
# match the schema the document gives for it. Bounded by --max-examples and
# an overall timeout. The path ids are real ones (schemathesis.toml, written
# below): Lily Ashworth's case and case channel, a member of her team (Kim
# Okafor) and the message this script posts first, so that each operation
# reaches its handler past the lookup instead of stopping at 404.
#   usage: .ci/schemathesis.sh BASE_URL WORK_DIR
set -euo pipefail
base=$1
work=$2
venv="$work/schemathesis-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'schemathesis~=4.32'
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

# The demo ids, from the API itself.
api() { curl -sfk -H "Cookie: $cookie" -H "X-CSRF-Token: $csrf" -H "Origin: $base" "$@"; }
case_id=$(api "$base/api/cases" | python3 -c '
import json, sys
print(next(c["id"] for c in json.load(sys.stdin)["cases"] if c["child_name"] == "Lily Ashworth"))')
read -r channel_id person_id < <(api "$base/api/cases/$case_id" | python3 -c '
import json, sys
c = json.load(sys.stdin)
print(next(ch["id"] for ch in c["channels"] if ch["kind"] == "case"),
      next(m["person_id"] for m in c["team"] if m["name"] == "Kim Okafor"))')
seq=$(api -X POST -H "Content-Type: application/json" \
  -d '{"client_id": "schemathesis-seed", "body": "Seen at school today"}' \
  "$base/api/channels/$channel_id/messages" | python3 -c 'import json, sys; print(json.load(sys.stdin)["seq"])')
echo "ids: case $case_id, channel $channel_id, person $person_id, seq $seq"
cat >"$work/schemathesis.toml" <<TOML
[parameters]
"path.case_id" = "$case_id"
"path.channel_id" = "$channel_id"
"path.person_id" = "$person_id"
"path.seq" = $seq
TOML

# From the work dir: schemathesis keeps a .schemathesis/ folder in its working directory.
cd "$work"
timeout 600 "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/api/openapi.json" \
  --url "$base" \
  --tls-verify false \
  -H "Cookie: $cookie" -H "X-CSRF-Token: $csrf" -H "Origin: $base" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
  --request-timeout 10 \
  --report junit --report-dir "$work/schemathesis-report"
