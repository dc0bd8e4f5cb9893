#!/bin/sh
# First start of the PostgreSQL container only (docker-entrypoint-initdb.d): creates
#   - the role `temporal` (may create databases): Temporal's schema job then creates and migrates
#     its two databases, `temporal` and `temporal_visibility`;
#   - the role `termshift` and the billing database `termshift` it owns (the `migrate` job
#     creates its tables).
# Passwords come from TEMPORAL_DB_PASSWORD and TERMSHIFT_DB_PASSWORD (see deploy/env.example).
# PostgreSQL runs this script only while its data volume is empty: to change a password later,
# use `ALTER ROLE ... PASSWORD ...` as well as changing .env.
# The entrypoint sources this file unless it is executable: hence no `set -u` (it would outlive the
# script); the entrypoint's own `set -e` applies.
set -e

: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD is required}"
: "${TERMSHIFT_DB_PASSWORD:?TERMSHIFT_DB_PASSWORD is required}"

# psql substitutes :'var' as a quoted literal, so any password is safe to pass.
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v temporal_password="$TEMPORAL_DB_PASSWORD" \
    -v termshift_password="$TERMSHIFT_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
CREATE ROLE termshift LOGIN PASSWORD :'termshift_password';
CREATE DATABASE termshift OWNER termshift;
REVOKE ALL ON DATABASE termshift FROM PUBLIC;
GRANT ALL ON DATABASE termshift TO termshift;
SQL
