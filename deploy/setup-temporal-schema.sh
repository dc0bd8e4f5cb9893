#!/bin/sh
# Creates Temporal's PostgreSQL databases and brings both schemas to the version of the admin-tools
# image (compose service `temporal-schema`, before every start of the server). Idempotent: an
# existing database is kept, and update-schema applies only the versions it lacks — so it is also
# how the schema follows a server upgrade (raise TEMPORAL_VERSION, then `docker compose up -d`).
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS (the PostgreSQL host) is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD (the password of POSTGRES_USER) is required}"
DB_PORT="${DB_PORT:-5432}"
DBNAME="${DBNAME:-temporal}"
VISIBILITY_DBNAME="${VISIBILITY_DBNAME:-temporal_visibility}"
SCHEMA_DIR="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"
ATTEMPTS="${SETUP_ATTEMPTS:-60}"
DELAY="${SETUP_DELAY_SECONDS:-2}"

log() {
    echo "setup-temporal-schema: $*"
}

attempt=1
until nc -z -w 5 "$POSTGRES_SEEDS" "$DB_PORT"; do
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
        log "ERROR: PostgreSQL at $POSTGRES_SEEDS:$DB_PORT is not reachable after $ATTEMPTS attempts"
        exit 1
    fi
    log "waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT ($attempt/$ATTEMPTS)"
    attempt=$((attempt + 1))
    sleep "$DELAY"
done

sql_tool() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

for pair in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
    database="${pair%%:*}"
    schema="${pair#*:}"
    log "database $database: create if missing, then update the $schema schema"
    sql_tool --db "$database" create
    sql_tool --db "$database" setup-schema -v 0.0
    sql_tool --db "$database" update-schema -d "$SCHEMA_DIR/$schema/versioned"
done
log "done"
