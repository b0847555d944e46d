#!/bin/sh
# The image's entrypoint: `api` (default), `proxy`, `migrate`, or
# `render` (print the rendered configs and exit; used to check them).
# Configuration comes from the environment (see the README's table);
# production (the image's default) refuses to start without a real
# CRM_JWT_SECRET.
set -eu

role=${1:-api}
run=${CRM_RUN_DIR:-/tmp/crm}
mkdir -p "$run/bodies" "$run/nginx" "$run/run"

render_kore() {
	sed -e "s|@MODULE@|/app/crm.so|g" \
	    -e "s|@BACKEND_HOST@|${CRM_BACKEND_HOST:-0.0.0.0}|g" \
	    -e "s|@BACKEND_PORT@|${CRM_BACKEND_PORT:-8080}|g" \
	    -e "s|@WORKERS@|${CRM_WORKERS:-$(nproc)}|g" \
	    -e "s|@BODY_PATH@|$run/bodies|g" \
	    -e "s|@STATE@|$run|g" \
	    -e "s|@SECCOMP_TRACING@|no|g" \
	    /app/conf/kore.conf.in
	# Workers drop to the unprivileged user (no chroot: they resolve
	# the database's host name).
	printf 'runas crm\n'
}

render_nginx() {
	sed -e "s|@STATE@|$run|g" \
	    -e "s|@USER_LINE@|user www-data;|g" \
	    -e "s|@TLS_HOST@|0.0.0.0|g" \
	    -e "s|@TLS_PORT@|${CRM_TLS_PORT:-8443}|g" \
	    -e "s|@BACKEND_HOST@|${CRM_API_HOST:-api}|g" \
	    -e "s|@BACKEND_PORT@|${CRM_BACKEND_PORT:-8080}|g" \
	    -e "s|@CERT@|${CRM_TLS_CERT:-/run/secrets/tls.crt}|g" \
	    -e "s|@KEY@|${CRM_TLS_KEY:-/run/secrets/tls.key}|g" \
	    /app/conf/nginx.conf.in
}

case $role in
api)
	: "${CRM_DATABASE_URL:?set CRM_DATABASE_URL (the crm_app role)}"
	render_kore >"$run/kore.conf"
	chown crm "$run/bodies"
	exec /usr/bin/kore -c "$run/kore.conf" -f -n
	;;
proxy)
	render_nginx >"$run/nginx.conf"
	chown www-data "$run/nginx"
	exec /usr/sbin/nginx -c "$run/nginx.conf" -p "$run/nginx" \
	    -e /dev/stderr -g 'daemon off;'
	;;
migrate)
	: "${CRM_MIGRATE_DATABASE_URL:?set CRM_MIGRATE_DATABASE_URL (crm_owner)}"
	exec /app/migrate "$CRM_MIGRATE_DATABASE_URL" /app/sql
	;;
render)
	render_kore
	echo "----"
	render_nginx
	;;
*)
	echo "usage: entrypoint.sh api|proxy|migrate|render" >&2
	exit 2
	;;
esac
