#!/bin/bash
# Run once by the postgres image, when it initialises an empty data
# directory (not on later starts: a changed password here changes
# nothing in an existing volume). The same roles and database as
# .dev/lib.sh (crm_db_create):
#   crm_owner  owns the schema and runs the migrations; BYPASSRLS, because
#              its SECURITY DEFINER functions (login, binding) must see
#              across rows before a caller is known
#   crm_app    what the server logs in as: owns nothing, no BYPASSRLS, so
#              row-level security applies to every query it sends
#   crm_webhookd  what the webhook worker logs in as: may only call its
#              functions (sql/0031 grants them)
# Passwords come from CRM_OWNER_PASSWORD, CRM_APP_PASSWORD and
# CRM_WEBHOOKD_PASSWORD (compose.yaml; its defaults are for development
# only).
set -eo pipefail  # not -u: if ever sourced, it would leak into the image's entrypoint

: "${CRM_OWNER_PASSWORD:?set CRM_OWNER_PASSWORD}"
: "${CRM_APP_PASSWORD:?set CRM_APP_PASSWORD}"
: "${CRM_WEBHOOKD_PASSWORD:?set CRM_WEBHOOKD_PASSWORD}"

psql -v ON_ERROR_STOP=1 -X -q --username "${POSTGRES_USER:-postgres}" \
    --no-password --dbname postgres \
    -v owner_pw="$CRM_OWNER_PASSWORD" -v app_pw="$CRM_APP_PASSWORD" \
    -v webhookd_pw="$CRM_WEBHOOKD_PASSWORD" <<-'SQL'
	CREATE ROLE crm_owner LOGIN NOSUPERUSER BYPASSRLS PASSWORD :'owner_pw';
	CREATE ROLE crm_app LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT
	    PASSWORD :'app_pw';
	CREATE ROLE crm_webhookd LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT
	    PASSWORD :'webhookd_pw';
	CREATE DATABASE crm OWNER crm_owner ENCODING 'UTF8' TEMPLATE template0
	    LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8';
	\connect crm
	REVOKE CREATE ON SCHEMA public FROM PUBLIC;
	ALTER SCHEMA public OWNER TO crm_owner;
	GRANT USAGE ON SCHEMA public TO crm_app;
	SQL
