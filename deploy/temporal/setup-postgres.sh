#!/bin/sh
# Creates the `temporal` and `temporal_visibility` databases if missing and brings both schemas up
# to the versions this admin-tools image carries. Safe to run again (an upgrade runs it again).
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${POSTGRES_PWD:?set in deploy/temporal.env}"
export SQL_PASSWORD="$POSTGRES_PWD"
port=${DB_PORT:-5432}
# The admin-tools image keeps the schemas here; the test that runs this script points elsewhere.
schema=${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}
for db in temporal temporal_visibility; do
  dir=$schema/$db
  [ "$db" = temporal_visibility ] && dir=$schema/visibility
  sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$port" --db "$db" "$@"; }
  sql create || echo "database $db exists"
  sql setup-schema -v 0.0 || echo "schema of $db already set up"
  sql update-schema -d "$dir/versioned"
done
echo "schemas ready"
