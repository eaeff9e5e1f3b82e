#!/usr/bin/env bash
# Runs a command with the real test servers up: provisions what is missing, starts Temporal, the
# Key Vault stand-in and the sshd hosts, runs "$@", stops them again whatever happened.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash test/infra/provision.sh
export REKEY_TEST_ROOT=${REKEY_TEST_ROOT:-/tmp/rekey-test}
node dist/test/infra/down.js >/dev/null 2>&1 || true
trap 'node dist/test/infra/down.js' EXIT
node dist/test/infra/up.js
# The Key Vault stand-in serves TLS with a CA made at start; trust it the way a user trusts a
# private CA. Its `az` stand-in (test/infra/shim) supplies the Azure CLI credential's token.
export NODE_EXTRA_CA_CERTS="$REKEY_TEST_ROOT/keyvault/ca.pem"
export PATH="$PWD/test/infra/shim:$PWD/quickstart/bin:$PATH"
"$@"
