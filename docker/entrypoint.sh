#!/bin/bash
# The CRM API image's entrypoint (run by tini, see docker/Dockerfile).
#
#   serve      (default) render the Kore and nginx configurations, apply the
#              migrations first when CRM_MIGRATE=1, then run Kore (plain
#              HTTP on 127.0.0.1:CRM_BACKEND_PORT, workers dropped to the
#              unprivileged user CRM_RUNAS) and nginx (TLS on CRM_LISTEN)
#              until either of them stops; then stop the other and exit
#   migrate    apply sql/ with CRM_MIGRATE_DATABASE_URL (the schema owner),
#              then exit: the compose file's run-once `migrate` service
#   webhookd   run the webhook delivery worker (crm-webhookd) as the
#              unprivileged user, connecting with CRM_WEBHOOKD_DATABASE_URL
#              (the role crm_webhookd): the compose file's `webhookd`
#   render     print the rendered configurations and exit (a check; needs
#              no database, secret or certificate)
#   other      run as a command: crm-admin, psql, sh, ...
#
# The rendering is .dev/lib.sh's crm_render with container paths. Every
# variable is described in docker/README.md. CRM_JWT_SECRET,
# CRM_DATABASE_URL, CRM_MIGRATE_DATABASE_URL and CRM_WEBHOOKD_DATABASE_URL
# can also be read from a file named by <NAME>_FILE (Docker secrets).
set -euo pipefail

say() { printf 'entrypoint: %s\n' "$*" >&2; }
die() { printf 'entrypoint: error: %s\n' "$*" >&2; exit 1; }

APP=${CRM_APP_DIR:-/app}
RUN=${CRM_RUN_DIR:-/tmp/crm}
RUNAS=${CRM_RUNAS:-crm}
LISTEN=${CRM_LISTEN:-0.0.0.0:8443}
BACKEND_PORT=${CRM_BACKEND_PORT:-8080}
WORKERS=${CRM_WORKERS:-}
[ -n "$WORKERS" ] || WORKERS=$(nproc)
TLS_CERT=${CRM_TLS_CERT:-/run/secrets/tls_cert}
TLS_KEY=${CRM_TLS_KEY:-/run/secrets/tls_key}
SECCOMP_TRACING=${CRM_SECCOMP_TRACING:-no}
DB_WAIT=${CRM_DB_WAIT:-60}
IMPORT_MAX=${CRM_IMPORT_BODY_MAX:-1073741824}
ROOT=0
[ "$(id -u)" -eq 0 ] && ROOT=1

# NAME_FILE (a mounted secret) fills NAME; both set is an error.
file_env() {
	local var=$1 file="${1}_FILE"
	if [ -n "${!file:-}" ]; then
		[ -z "${!var:-}" ] || die "both $var and $file are set"
		[ -r "${!file}" ] || die "$file: cannot read ${!file}"
		export "$var=$(cat "${!file}")"
	fi
	unset "$file"
}

# The values below are spliced into the configurations by sed: accept
# only what cannot break out of a directive.
check_path() {
	[[ $2 =~ ^/[A-Za-z0-9._/+-]*$ ]] ||
	    die "$1 must be an absolute path of letters, digits and ._/+- (got '$2')"
}
check_int() {
	if ! [[ $2 =~ ^[0-9]{1,5}$ ]] || [ $((10#$2)) -lt "$3" ] ||
	    [ $((10#$2)) -gt "$4" ]; then
		die "$1 must be an integer from $3 to $4 (got '$2')"
	fi
}
check_settings() {
	local host=${LISTEN%:*} port=${LISTEN##*:}
	[ "$host" != "$LISTEN" ] || die "CRM_LISTEN must be host:port (got '$LISTEN')"
	[[ $host =~ ^(\*|[0-9.]+|\[[0-9A-Fa-f:]+\])$ ]] ||
	    die "CRM_LISTEN: the host must be *, an IPv4 address or [IPv6] (got '$host')"
	check_int CRM_LISTEN "$port" 1 65535
	check_int CRM_BACKEND_PORT "$BACKEND_PORT" 1 65535
	[ "$port" != "$BACKEND_PORT" ] ||
	    die "CRM_LISTEN and CRM_BACKEND_PORT use the same port $port"
	check_int CRM_WORKERS "$WORKERS" 1 255
	check_path CRM_APP_DIR "$APP"
	check_path CRM_RUN_DIR "$RUN"
	check_path CRM_TLS_CERT "$TLS_CERT"
	check_path CRM_TLS_KEY "$TLS_KEY"
	[[ $IMPORT_MAX =~ ^[0-9]{4,12}$ ]] ||
	    die "CRM_IMPORT_BODY_MAX must be a number of bytes (got '$IMPORT_MAX')"
	[[ $SECCOMP_TRACING =~ ^(yes|no)$ ]] ||
	    die "CRM_SECCOMP_TRACING must be yes or no"
	[[ $RUNAS =~ ^[a-z_][a-z0-9_-]*$ ]] || die "CRM_RUNAS: bad user name '$RUNAS'"
	if [ "$ROOT" = 1 ]; then
		getent passwd "$RUNAS" >/dev/null || die "CRM_RUNAS: no user '$RUNAS'"
	fi
}

# Fail on a placeholder the template gained but this script does not fill.
check_rendered() {
	if grep -n '@[A-Z][A-Z_]*@' "$2" >&2; then
		die "$1: placeholders left unrendered (see above)"
	fi
}

render_kore() {
	sed -e "s|@MODULE@|$APP/crm.so|g" \
	    -e "s|@BODY_MAX@|$((10#$IMPORT_MAX + 1048576))|g" \
	    -e "s|@BACKEND_HOST@|127.0.0.1|g" \
	    -e "s|@BACKEND_PORT@|$BACKEND_PORT|g" \
	    -e "s|@WORKERS@|$WORKERS|g" \
	    -e "s|@BODY_PATH@|$RUN/bodies|g" \
	    -e "s|@STATE@|$RUN|g" \
	    -e "s|@SECCOMP_TRACING@|$SECCOMP_TRACING|g" \
	    "$APP/conf/kore.conf.in"
	if [ "$ROOT" = 1 ]; then
		# Privilege separation: the parent stays root, every worker
		# drops to the unprivileged user before it serves anything.
		# The chroot is / because workers resolve the database's host
		# name and read libpq's files; seccomp still confines them.
		printf '\n# Added by docker/entrypoint.sh: worker privileges.\n'
		printf 'runas\t\t%s\nroot\t\t/\n' "$RUNAS"
	fi
}

render_nginx() {
	local user_line=""
	# nginx's workers drop to www-data (the master reads the key as root).
	[ "$ROOT" = 1 ] && user_line="user www-data;"
	# The template's error log goes to the container's log (nginx writes
	# to its inherited stderr; reopening /dev/stderr may be refused).
	sed -e "s|@STATE@/nginx/error\.log|stderr|g" \
	    -e "s|@STATE@|$RUN|g" \
	    -e "s|@IMPORT_BODY_MAX@|$((10#$IMPORT_MAX))|g" \
	    -e "s|@USER_LINE@|$user_line|g" \
	    -e "s|@TLS_HOST@|${LISTEN%:*}|g" \
	    -e "s|@TLS_PORT@|${LISTEN##*:}|g" \
	    -e "s|@BACKEND_HOST@|127.0.0.1|g" \
	    -e "s|@BACKEND_PORT@|$BACKEND_PORT|g" \
	    -e "s|@CERT@|$TLS_CERT|g" \
	    -e "s|@KEY@|$TLS_KEY|g" \
	    "$APP/conf/nginx.conf.in"
}

# Render both configurations into $RUN and prepare the directories they
# name: request bodies (written by Kore's workers), nginx's temp files
# (written by its workers), pid files (written by the parents).
render() {
	mkdir -p "$RUN/run" "$RUN/nginx" "$RUN/bodies"
	chmod 0700 "$RUN/bodies"
	if [ "$ROOT" = 1 ]; then
		chown "$RUNAS:" "$RUN/bodies"
		chown www-data: "$RUN/nginx"
	fi
	render_kore >"$RUN/kore.conf"
	render_nginx >"$RUN/nginx.conf"
	check_rendered kore.conf "$RUN/kore.conf"
	check_rendered nginx.conf "$RUN/nginx.conf"
}

# Run "$@" as the unprivileged user when we are root.
as_user() {
	if [ "$ROOT" = 1 ]; then
		HOME=/nonexistent setpriv --reuid="$(id -u "$RUNAS")" \
		    --regid="$(id -g "$RUNAS")" --init-groups -- "$@"
	else
		"$@"
	fi
}

# Wait until the database of conninfo $1 accepts connections.
wait_db() {
	local deadline rc
	check_int CRM_DB_WAIT "$DB_WAIT" 0 3600
	deadline=$((SECONDS + DB_WAIT))
	while :; do
		rc=0
		pg_isready -q -t 2 -d "$1" || rc=$?
		case $rc in
		0) return 0 ;;
		3) die "the migration connection string is not valid" ;;
		esac
		[ "$SECONDS" -lt "$deadline" ] ||
		    die "the database did not accept connections within ${DB_WAIT}s"
		sleep 1
	done
}

# Optional (CRM_DB_RESOLVE=1): resolve the database's host name here,
# outside the sandbox, and give libpq the address as hostaddr (host stays:
# TLS verification and .pgpass use it). Workers resolve names themselves
# since api/init.c allows glibc's resolver calls (sendmmsg, uname), so
# this is off by default; with it on, the address is taken at start.
# Key=value connection strings only.
pin_db_addr() {
	local url=$CRM_DATABASE_URL host addr deadline
	[ "${CRM_DB_RESOLVE:-0}" = 1 ] || return 0
	case $url in
	postgres://* | postgresql://*)
		say "warning: CRM_DATABASE_URL is a URI: its host name is not" \
		    "resolved here; use host=... key=value form, or an address"
		return 0
		;;
	esac
	[[ $url =~ (^|[[:space:]])hostaddr[[:space:]]*= ]] && return 0
	[[ $url =~ (^|[[:space:]])host[[:space:]]*=[[:space:]]*([A-Za-z0-9._-]+)([[:space:]]|$) ]] ||
	    return 0
	host=${BASH_REMATCH[2]}
	# Already an address.
	[[ $host =~ ^[0-9.]+$ ]] && return 0
	check_int CRM_DB_WAIT "$DB_WAIT" 0 3600
	deadline=$((SECONDS + DB_WAIT))
	# IPv4 first (Docker's networks), else whatever the name has.
	until addr=$({ getent ahostsv4 "$host" || getent ahosts "$host"; } |
	    awk 'NR == 1 { print $1 }') && [ -n "$addr" ]; do
		[ "$SECONDS" -lt "$deadline" ] ||
		    die "cannot resolve the database host '$host'"
		sleep 1
	done
	say "database host $host is $addr (hostaddr)"
	export CRM_DATABASE_URL="$url hostaddr=$addr"
}

migrate() {
	file_env CRM_MIGRATE_DATABASE_URL
	[ -n "${CRM_MIGRATE_DATABASE_URL:-}" ] ||
	    die "set CRM_MIGRATE_DATABASE_URL: the schema owner (crm_owner), not the server's role"
	say "waiting for the database"
	wait_db "$CRM_MIGRATE_DATABASE_URL"
	as_user "$APP/bin/migrate" "$CRM_MIGRATE_DATABASE_URL" "$APP/sql"
}

serve() {
	local kore_pid nginx_pid rc=0 stopping=0 kore_args

	file_env CRM_JWT_SECRET
	file_env CRM_DATABASE_URL
	[ -n "${CRM_DATABASE_URL:-}" ] ||
	    die "set CRM_DATABASE_URL: the server's role (crm_app)"
	[ -r "$TLS_CERT" ] ||
	    die "no TLS certificate at $TLS_CERT (CRM_TLS_CERT): mount one, see docker/README.md"
	[ -r "$TLS_KEY" ] ||
	    die "no TLS key at $TLS_KEY (CRM_TLS_KEY): mount one, see docker/README.md"
	if [ "${CRM_MIGRATE:-0}" = 1 ]; then
		migrate
	fi
	# The owner's credentials go no further than the migrations.
	unset CRM_MIGRATE_DATABASE_URL CRM_MIGRATE_DATABASE_URL_FILE
	pin_db_addr

	render
	/usr/sbin/nginx -q -t -c "$RUN/nginx.conf" -p "$RUN/nginx/" -e stderr ||
	    die "nginx rejected its configuration"

	kore_args=(-c "$RUN/kore.conf" -f)
	if [ "$ROOT" = 0 ]; then
		say "not root: Kore runs without chroot and privilege drop"
		kore_args+=(-n -r)
	fi
	# docker stop (SIGTERM from tini) stops both; either one ending
	# stops the other, and the container exits with its status.
	kore_pid="" nginx_pid=""
	trap 'stopping=1; kill -TERM $kore_pid $nginx_pid 2>/dev/null || :' \
	    TERM INT QUIT
	# -f: Kore prints its log; line-buffered so it reaches docker logs.
	stdbuf -oL -eL /usr/bin/kore "${kore_args[@]}" &
	kore_pid=$!
	/usr/sbin/nginx -c "$RUN/nginx.conf" -p "$RUN/nginx/" -e stderr \
	    -g 'daemon off;' &
	nginx_pid=$!
	say "kore (pid $kore_pid) on 127.0.0.1:$BACKEND_PORT, nginx (pid $nginx_pid) on $LISTEN"
	# A signal that came while they were starting.
	[ "$stopping" = 0 ] || kill -TERM "$kore_pid" "$nginx_pid" 2>/dev/null || :

	wait -n "$kore_pid" "$nginx_pid" || rc=$?
	if [ "$stopping" = 0 ]; then
		if ! kill -0 "$kore_pid" 2>/dev/null; then
			say "kore exited (status $rc); stopping nginx"
		else
			say "nginx exited (status $rc); stopping kore"
		fi
		[ "$rc" -ne 0 ] || rc=1
		kill -TERM "$kore_pid" "$nginx_pid" 2>/dev/null || :
	fi
	# Reap both (a second signal interrupts wait: try again).
	while kill -0 "$kore_pid" 2>/dev/null || kill -0 "$nginx_pid" 2>/dev/null; do
		wait "$kore_pid" "$nginx_pid" 2>/dev/null || :
	done
	if [ "$stopping" = 1 ]; then
		# Stopped on request: the status is Kore's.
		rc=0
		wait "$kore_pid" 2>/dev/null || rc=$?
		say "stopped (kore status $rc)"
	fi
	exit "$rc"
}

# The webhook worker in the foreground, unprivileged; tini passes
# docker stop's SIGTERM on, and the worker finishes its delivery and exits.
webhookd() {
	file_env CRM_WEBHOOKD_DATABASE_URL
	[ -n "${CRM_WEBHOOKD_DATABASE_URL:-}" ] ||
	    die "set CRM_WEBHOOKD_DATABASE_URL: the worker's role (crm_webhookd)"
	unset CRM_JWT_SECRET CRM_DATABASE_URL CRM_MIGRATE_DATABASE_URL
	if [ "$ROOT" = 1 ]; then
		HOME=/nonexistent exec setpriv --reuid="$(id -u "$RUNAS")" \
		    --regid="$(id -g "$RUNAS")" --init-groups -- \
		    "$APP/bin/crm-webhookd"
	fi
	exec "$APP/bin/crm-webhookd"
}

cmd=${1:-serve}
case $cmd in
serve)
	check_settings
	serve
	;;
migrate)
	migrate
	;;
webhookd)
	check_settings
	webhookd
	;;
render)
	# Print only: creates nothing, so a running server is not disturbed.
	check_settings
	out=$(mktemp)
	trap 'rm -f "$out"' EXIT
	{
		printf '# ---- %s/kore.conf\n' "$RUN"
		render_kore
		printf '# ---- %s/nginx.conf\n' "$RUN"
		render_nginx
	} >"$out"
	check_rendered "the configuration" "$out"
	cat "$out"
	;;
*)
	exec "$@"
	;;
esac
