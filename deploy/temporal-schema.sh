#!/bin/sh
# One-shot: create and migrate Temporal's databases in PostgreSQL (temporalio/admin-tools image).
set -eu
nc -z -w 30 postgresql 5432
tool="temporal-sql-tool --plugin postgres12 --ep postgresql -u ${POSTGRES_USER} -p 5432"
for db in temporal temporal_visibility; do
  $tool --db "$db" create || true   # already there on a re-run
done
$tool --db temporal setup-schema -v 0.0 || true
$tool --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned
$tool --db temporal_visibility setup-schema -v 0.0 || true
$tool --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned
echo "temporal schema ready"
