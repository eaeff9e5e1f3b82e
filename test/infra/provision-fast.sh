#!/usr/bin/env bash
# What the fast tier uses, once, into the cache: the Temporal Java time-skipping test server and its
# classpath from Maven Central (needs Java and Maven), and Python's cryptography in a venv (the
# Fernet suite checks rekey's keys against it; needs python3 with venv). `npm run test:fast` runs
# only this; provision.sh runs it with the rest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${REKEY_CACHE:-$HOME/.cache/rekey}
mkdir -p "$cache/bin"

lib="$cache/testserver/lib"
if [ ! -f "$lib/.complete" ]; then
  echo "provision: fetching the Temporal time-skipping test server from Maven Central"
  (cd "$here/testserver" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$lib")
  touch "$lib/.complete"
fi
wrapper="$cache/bin/temporal-test-server"
cat >"$wrapper" <<WRAP
#!/bin/sh
# Started by @temporalio/testing as: temporal-test-server <port>
exec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -cp "$lib/*" io.temporal.testserver.TestServer "\$@"
WRAP
chmod +x "$wrapper"

pyenv="$cache/pyenv"
if ! "$pyenv/bin/python" -c 'import cryptography' 2>/dev/null; then
  echo "provision: installing Python's cryptography into $pyenv (once)"
  python3 -m venv "$pyenv"
  "$pyenv/bin/pip" install -q cryptography
fi
