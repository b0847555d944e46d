# Shared by .dev/up, .dev/test, .dev/stack and .dev/bench: install what is
# missing, build, run a private PostgreSQL cluster, migrate, seed, render
# the Kore and nginx configs, and start the server. Bash; sourced, not run.
#
# Everything a run creates lives under $CRM_STATE (default .state/, ignored
# by git): the cluster, TLS files, rendered configs, logs and pid files.

set -euo pipefail

CRM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRM_STATE=${CRM_STATE:-$CRM_ROOT/.state}
CRM_PG_PORT=${CRM_PG_PORT:-5433}
CRM_BACKEND_PORT=${CRM_BACKEND_PORT:-8080}
CRM_LISTEN=${CRM_LISTEN:-127.0.0.1:8443}
CRM_WORKERS=${CRM_WORKERS:-$(nproc)}
CRM_BUILD=${CRM_BUILD:-release}

# Debian packages the server needs to build and run, and those the tests
# and benchmarks need on top.
CRM_RUN_PACKAGES="kore libjwt-dev libjansson-dev libpq-dev libssl-dev
    cmake gcc make pkg-config python3 python3-yaml postgresql
    postgresql-contrib nginx-light openssl curl ca-certificates"
CRM_TEST_PACKAGES="python3-pytest python3-requests python3-jsonschema
    python3-psycopg python3-yaml wrk postgresql-contrib clang-format nodejs"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install the Debian packages among "$@" that are not installed yet.
crm_deps() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages (run as root): ${missing[*]}"
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The npm tools of the tests, pinned in tests/client (the OpenAPI lint, the
# generated TypeScript client): npm from Debian when the installed nodejs
# came without it, then `npm ci` of the committed lock whenever the lock
# changed since the last install (node_modules/ is ignored by git).
crm_npm_deps() {
	local dir=$CRM_ROOT/tests/client stamp sum
	command -v npm >/dev/null 2>&1 || crm_deps npm
	stamp=$dir/node_modules/.crm-lock-sha256
	sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
		return 0
	fi
	say "installing the tests' npm tools (npm ci in tests/client)"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
	    die "npm ci failed in tests/client"
	printf '%s\n' "$sum" >"$stamp"
}

# The PostgreSQL binaries of the newest installed major version.
crm_pg_bin() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] || die "PostgreSQL is not installed"
	printf '%s\n' "$d"
}

# Build the module: $1 = release | debug. Prints the path of crm.so.
crm_build() {
	local type=${1:-$CRM_BUILD} dir cmtype
	dir=$CRM_ROOT/build/$type
	cmtype=Release
	[ "$type" = debug ] && cmtype=Debug
	cmake -S "$CRM_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=$cmtype >/dev/null
	# Quiet when it works; on failure show why (on stderr: stdout is the
	# module's path) and stop.
	cmake --build "$dir" -j"$(nproc)" >/dev/null 2>&1 ||
	    cmake --build "$dir" -j1 >&2 || die "the $type build failed"
	printf '%s\n' "$dir/crm.so"
}

# Let user $1 reach $2: grant o+x on ancestors it cannot traverse (the
# project may live under /root, which is 0700 on Debian).
crm_grant_traverse() {
	local user=$1 dir=$2
	while [ "$dir" != / ]; do
		dir=$(dirname "$dir")
		if ! runuser -u "$user" -- test -x "$dir" 2>/dev/null; then
			say "granting o+x on $dir so $user can reach the project"
			chmod o+x "$dir"
		fi
	done
}

# Create (once) and start the private cluster under $CRM_STATE/pg.
crm_pg_start() {
	local bin data run log
	bin=$(crm_pg_bin)
	data=$CRM_STATE/pg/data
	run=$CRM_STATE/pg/run
	log=$CRM_STATE/pg/postgres.log
	mkdir -p "$CRM_STATE/pg"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$CRM_STATE/pg"
		crm_grant_traverse postgres "$CRM_STATE/pg"
	fi
	if [ ! -f "$data/PG_VERSION" ]; then
		say "creating the PostgreSQL cluster in $data"
		crm_as_pg "$bin/initdb" -D "$data" -U postgres -A trust \
		    -E UTF8 --locale=C.UTF-8 >/dev/null
	fi
	crm_as_pg mkdir -p "$run"
	if crm_as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		return 0
	fi
	say "starting PostgreSQL on 127.0.0.1:$CRM_PG_PORT"
	crm_as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start -o \
	    "-p $CRM_PG_PORT -k $run -c listen_addresses=127.0.0.1 \
	    -c max_connections=200 -c shared_buffers=256MB \
	    -c fsync=${CRM_PG_FSYNC:-on}" >/dev/null
}

crm_pg_stop() {
	local bin
	bin=$(crm_pg_bin)
	[ -f "$CRM_STATE/pg/data/PG_VERSION" ] || return 0
	crm_as_pg "$bin/pg_ctl" -D "$CRM_STATE/pg/data" -m fast -w stop \
	    >/dev/null 2>&1 || true
}

# Run a command as the cluster's owner (postgres when we are root).
crm_as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# psql as the superuser on the private cluster, database $1.
crm_psql_super() {
	local db=$1; shift
	crm_as_pg "$(crm_pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 \
	    -h "$CRM_STATE/pg/run" -p "$CRM_PG_PORT" -U postgres -d "$db" "$@"
}

# The roles and the database: crm_owner owns the schema, runs the
# migrations and owns the SECURITY DEFINER functions that must see across
# rows before a caller is known (login, binding), hence BYPASSRLS; crm_app
# is what the server logs in as (owns nothing, no BYPASSRLS); crm_webhookd
# is what the webhook worker logs in as (may only call its functions).
crm_db_create() {
	crm_psql_super postgres <<-'SQL'
	SELECT 'CREATE ROLE crm_owner LOGIN NOSUPERUSER BYPASSRLS'
	WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_owner')
	\gexec
	ALTER ROLE crm_owner BYPASSRLS;
	SELECT 'CREATE ROLE crm_app LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT'
	WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_app')
	\gexec
	SELECT 'CREATE ROLE crm_webhookd LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT'
	WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_webhookd')
	\gexec
	SELECT 'CREATE DATABASE crm OWNER crm_owner ENCODING ''UTF8'' TEMPLATE template0'
	WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'crm')
	\gexec
	SQL
	crm_psql_super crm <<-'SQL'
	REVOKE CREATE ON SCHEMA public FROM PUBLIC;
	ALTER SCHEMA public OWNER TO crm_owner;
	GRANT USAGE ON SCHEMA public TO crm_app;
	SQL
}

# The libpq connection string of role $1 on the private cluster.
crm_conninfo() {
	printf 'host=127.0.0.1 port=%s dbname=crm user=%s application_name=%s' \
	    "$CRM_PG_PORT" "$1" "${2:-crm}"
}

# Apply the numbered migrations in sql/ that are not applied yet, each in
# its own transaction together with its row in schema_migrations.
crm_migrate() {
	CRM_PSQL="$(crm_pg_bin)/psql" \
	    "$CRM_ROOT/.dev/migrate" "$(crm_conninfo crm_owner migrate)" \
	    "$CRM_ROOT/sql"
}

# Load the demo data (idempotent), as the superuser: seeding is not an
# application action and must not depend on the app's policies.
crm_seed_demo() {
	local salt hash
	salt=$(openssl rand -hex 16)
	hash=$(openssl kdf -keylen 32 -kdfopt pass:demo-password-2026 \
	    -kdfopt hexsalt:"$salt" -kdfopt n:16384 -kdfopt r:8 \
	    -kdfopt p:1 SCRYPT | tr -d ':\n' | tr 'A-F' 'a-f')
	# seed.sql first, then each module's seed_*.sql, in name order.
	for f in "$CRM_ROOT"/sql/demo/seed*.sql; do
		crm_psql_super crm \
		    -v pwhash="scrypt\$16384\$8\$1\$$salt\$$hash" <"$f"
	done
}

# A development CA and a server certificate for 127.0.0.1 and localhost
# (RSA 2048, 1 year), made once.
crm_tls() {
	local d=$CRM_STATE/tls
	[ -f "$d/server.crt" ] && return 0
	say "generating a development CA and certificate in $d"
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
	    -subj "/CN=CRM development CA" -keyout "$d/ca.key" \
	    -out "$d/ca.crt" -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
	    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" \
	    -CAkey "$d/ca.key" -CAcreateserial -days 365 -sha256 \
	    -extfile <(printf '%s\n' \
	    'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost' \
	    'extendedKeyUsage=serverAuth' 'basicConstraints=CA:FALSE') \
	    -out "$d/server.crt" 2>/dev/null
	rm -f "$d/server.csr"
	chmod 600 "$d"/*.key
}

# Render api/kore.conf.in and api/nginx.conf.in into $CRM_STATE.
crm_render() {
	local so=$1 tls_host tls_port user_line="" import_max
	tls_host=${CRM_LISTEN%:*}
	tls_port=${CRM_LISTEN##*:}
	# The bulk import limit (src/config.c): nginx and Kore take as much.
	import_max=${CRM_IMPORT_BODY_MAX:-1073741824}
	[[ $import_max =~ ^[0-9]{4,12}$ ]] ||
	    die "CRM_IMPORT_BODY_MAX must be a number of bytes"
	import_max=$((10#$import_max))
	mkdir -p "$CRM_STATE/run" "$CRM_STATE/bodies" "$CRM_STATE/nginx"
	if [ "$(id -u)" -eq 0 ]; then
		# nginx workers drop to www-data and write request bodies here.
		user_line="user www-data;"
		chown www-data: "$CRM_STATE/nginx"
		crm_grant_traverse www-data "$CRM_STATE/nginx"
	fi
	sed -e "s|@MODULE@|$so|g" \
	    -e "s|@BODY_MAX@|$((import_max + 1048576))|g" \
	    -e "s|@BACKEND_HOST@|127.0.0.1|g" \
	    -e "s|@BACKEND_PORT@|$CRM_BACKEND_PORT|g" \
	    -e "s|@WORKERS@|$CRM_WORKERS|g" \
	    -e "s|@BODY_PATH@|$CRM_STATE/bodies|g" \
	    -e "s|@STATE@|$CRM_STATE|g" \
	    -e "s|@SECCOMP_TRACING@|${CRM_SECCOMP_TRACING:-no}|g" \
	    "$CRM_ROOT/api/kore.conf.in" >"$CRM_STATE/kore.conf"
	sed -e "s|@STATE@|$CRM_STATE|g" \
	    -e "s|@IMPORT_BODY_MAX@|$import_max|g" \
	    -e "s|@USER_LINE@|$user_line|g" \
	    -e "s|@TLS_HOST@|$tls_host|g" \
	    -e "s|@TLS_PORT@|$tls_port|g" \
	    -e "s|@BACKEND_HOST@|127.0.0.1|g" \
	    -e "s|@BACKEND_PORT@|$CRM_BACKEND_PORT|g" \
	    -e "s|@CERT@|${CRM_TLS_CERT:-$CRM_STATE/tls/server.crt}|g" \
	    -e "s|@KEY@|${CRM_TLS_KEY:-$CRM_STATE/tls/server.key}|g" \
	    "$CRM_ROOT/api/nginx.conf.in" >"$CRM_STATE/nginx.conf"
}

crm_nginx_start() {
	crm_nginx_stop
	/usr/sbin/nginx -c "$CRM_STATE/nginx.conf" -p "$CRM_STATE/nginx" \
	    -e "$CRM_STATE/nginx/error.log"
}

crm_nginx_stop() {
	local pid
	pid=$(cat "$CRM_STATE/run/nginx.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

# The environment the server reads (see src/config.c).
crm_server_env() {
	export CRM_DATABASE_URL=${CRM_DATABASE_URL:-$(crm_conninfo crm_app api)}
	export CRM_DB_POOL=${CRM_DB_POOL:-8}
}

# The webhook delivery worker (src/webhookd.c), in the background beside
# Kore, as the role crm_webhookd; its log is $CRM_STATE/log/webhookd.log.
# CRM_WEBHOOK_* settings pass through from the environment.
crm_webhookd_start() {
	local bin=$CRM_ROOT/build/$CRM_BUILD/crm-webhookd
	crm_webhookd_stop
	mkdir -p "$CRM_STATE/log" "$CRM_STATE/run"
	CRM_WEBHOOKD_DATABASE_URL=${CRM_WEBHOOKD_DATABASE_URL:-$(crm_conninfo \
	    crm_webhookd webhookd)} setsid "$bin" \
	    >>"$CRM_STATE/log/webhookd.log" 2>&1 </dev/null &
	echo $! >"$CRM_STATE/run/webhookd.pid"
}

crm_webhookd_stop() {
	local pid
	pid=$(cat "$CRM_STATE/run/webhookd.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$CRM_STATE/run/webhookd.pid"
}

# The kore command line: foreground, no chroot or privilege drop (a
# development run as the invoking user; docker/ runs it unprivileged).
crm_kore_cmd() {
	local pre=""
	if [ "${CRM_BUILD}" = debug ]; then
		pre="ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 LD_PRELOAD=$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
	fi
	printf '%s\n' "env $pre stdbuf -oL -eL /usr/bin/kore -c $CRM_STATE/kore.conf -f -n -r"
}
