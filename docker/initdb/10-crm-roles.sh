#!/bin/sh
# Runs once, when the postgres image initialises its data directory: the
# roles and database of the CRM, as .dev/lib.sh (crm_db_create) makes them
# for development. crm_owner owns the schema and runs the migrations
# (BYPASSRLS: its SECURITY DEFINER functions bind callers); crm_app is the
# server's login: owns nothing, no BYPASSRLS.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_pw="$CRM_OWNER_PASSWORD" -v app_pw="$CRM_APP_PASSWORD" <<'SQL'
CREATE ROLE crm_owner LOGIN NOSUPERUSER BYPASSRLS PASSWORD :'owner_pw';
CREATE ROLE crm_app LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT PASSWORD :'app_pw';
CREATE DATABASE crm OWNER crm_owner ENCODING 'UTF8' TEMPLATE template0
    LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8';
\connect crm
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO crm_owner;
GRANT USAGE ON SCHEMA public TO crm_app;
SQL
