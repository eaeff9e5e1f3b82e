#!/bin/sh
# Waits for the server, then creates the namespace rekey uses (if missing).
set -eu
ns=${NAMESPACE:-default}
for _ in $(seq 1 60); do
  temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 && break
  sleep 5
done
if temporal operator namespace describe -n "$ns" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  echo "namespace $ns exists"
else
  temporal operator namespace create -n "$ns" --retention "${RETENTION:-30d}" --address "$TEMPORAL_ADDRESS"
fi
