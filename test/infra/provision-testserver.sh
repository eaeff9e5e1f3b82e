#!/usr/bin/env bash
# The fast tier's one server: the Temporal Java time-skipping test server and its classpath, from
# Maven Central, once, into the cache (needs Java and Maven). `npm run test:fast` runs only this;
# provision.sh runs it with the rest.
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
