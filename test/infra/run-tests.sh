#!/usr/bin/env bash
# `npm test`: lint, build, provision what is missing, start the real test servers, run every
# test with Node's test runner, stop the servers. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

[ -d node_modules ] || npm ci --no-audit --no-fund
npx biome ci .
npx tsc -p tsconfig.json
bash test/infra/provision.sh

export REKEY_TEST_ROOT=${REKEY_TEST_ROOT:-/tmp/rekey-test}
node dist/test/infra/down.js >/dev/null 2>&1 || true
trap 'node dist/test/infra/down.js' EXIT
node dist/test/infra/up.js
# The Key Vault stand-in serves TLS with a CA made at start; trust it the way a user trusts a private CA.
export NODE_EXTRA_CA_CERTS="$REKEY_TEST_ROOT/keyvault/ca.pem"
node --test --test-concurrency=2 "$@" dist/test/*.test.js
