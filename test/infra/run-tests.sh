#!/usr/bin/env bash
# `npm test`: lint, type-check and build (with the workflow bundle), then every test on the real servers (with-servers.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

# npm install, not npm ci: the lock lacks the other platforms' optional binaries (biome, swc) that
# this registry does not serve, which npm ci rejects and npm install accepts.
[ -d node_modules ] || npm install --no-audit --no-fund
npx biome ci .
npm run build --silent
bash test/infra/with-servers.sh node --test --test-concurrency=2 "$@" dist/test/*.test.js dist/test/fast/*.test.js
