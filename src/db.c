/*
 * The one asynchronous query state machine of the server, after Kore's
 * examples/pgsql, with what Kore 4.1's pool does not do itself:
 *
 * - connections are opened when a worker starts (crm_db_warm), not on the
 *   first request, whose blocking connect would stall the event loop;
 * - a connection that PostgreSQL dropped (restart, failover) is detected
 *   before use and reset, so the pool heals without restarting workers;
 * - a connection is never handed on inside a transaction: statements run
 *   as implicit transactions, and one found otherwise is reset, so no
 *   request inherits another's transaction or transaction-local settings;
 * - a request queued for a connection re-enters the same state without
 *   allocating anything again (Kore wakes it when one is free);
 * - a request with an Idempotency-Key sends its statement through the
 *   SQL wrapper crm_idempotent() (crm_db_idempotent), for every handler
 *   alike, and a replayed answer is marked on the response.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/pgsql.h>

#include "crm/db.h"
#include "crm/idempotency.h"

enum {
	DB_STATE_SETUP,
	DB_STATE_QUERY,
	DB_STATE_WAIT,
	DB_STATE_DONE,
};

struct crm_db {
	struct kore_pgsql sql;
	struct http_request *req;
	const char *statement;
	int nparams;
	char *values[CRM_DB_MAX_PARAMS];
	int lengths[CRM_DB_MAX_PARAMS];
	int formats[CRM_DB_MAX_PARAMS];
	int state;
	int bound;
	int rows;
	char *value;
	size_t value_len;
	char *detail; /* the server's message, for logs */
	struct crm_error err;
	char *idem_key; /* set: wrap the statement, then cleared */
	char *idem_hash;
	int wrapped; /* sent through crm_idempotent() */
};

static int conn_ready(struct crm_db *);
static int idem_wrap(struct crm_db *);
static int send_prepared(struct crm_db *, const char **);
static void set_failure(struct crm_db *, const char *);
static int state_setup(struct crm_db *);
static int state_query(struct crm_db *);
static int state_wait(struct crm_db *);

/*
 * Register the database with Kore's pool: `conninfo` is a libpq connection
 * string, `pool` the most connections a worker opens. Call once per worker
 * before any query.
 */
int
crm_db_init(const char *conninfo, int pool, struct crm_error *err)
{
	pgsql_conn_max = (u_int16_t)pool;
	pgsql_queue_limit = 4096;

	if (!kore_pgsql_register(CRM_DB_NAME, conninfo))
		return (crm_error_set(err, CRM_ERR_INTERNAL,
		    "cannot register the database"));

	return (CRM_OK);
}

/*
 * Open up to `count` connections now, so the first requests find them
 * ready. Returns how many opened; a database that is down is not fatal
 * (requests then answer 503 until it is back).
 */
int
crm_db_warm(int count)
{
	struct kore_pgsql *conns;
	int i, opened;

	conns = kore_calloc(count, sizeof(*conns));
	opened = 0;

	for (i = 0; i < count; i++) {
		kore_pgsql_init(&conns[i]);
		if (!kore_pgsql_setup(&conns[i], CRM_DB_NAME, KORE_PGSQL_SYNC))
			break;
		opened++;
	}
	if (i < count && conns[i].error != NULL)
		kore_log(LOG_WARNING, "pgsql warm-up: %s", conns[i].error);

	/* Every opened connection goes back to the free list. */
	for (i = 0; i < count; i++)
		kore_pgsql_cleanup(&conns[i]);
	kore_free(conns);

	return (opened);
}

/*
 * A new query for `req` running `statement` (a constant: it is not
 * copied). The query belongs to the caller, who releases it with
 * crm_db_free() when the request ends.
 */
struct crm_db *
crm_db_new(struct http_request *req, const char *statement)
{
	struct crm_db *db;

	db = kore_calloc(1, sizeof(*db));
	db->req = req;
	db->statement = statement;
	db->state = DB_STATE_SETUP;
	crm_error_init(&db->err);
	kore_pgsql_init(&db->sql);

	return (db);
}

/* Release the query, its connection (back to the pool) and its results. */
void
crm_db_free(struct crm_db *db)
{
	int i;

	if (db == NULL)
		return;

	if (db->bound)
		kore_pgsql_cleanup(&db->sql);
	for (i = 0; i < db->nparams; i++)
		kore_free(db->values[i]);
	kore_free(db->value);
	kore_free(db->detail);
	kore_free(db->idem_key);
	kore_free(db->idem_hash);
	crm_error_cleanup(&db->err);
	kore_free(db);
}

/*
 * Make the query idempotent under Idempotency-Key `key`, for the request
 * whose hash is `hash` (both copied). When it starts, its statement and
 * parameters become the arguments of CRM_IDEM_STATEMENT, which runs them
 * once per key and stores the answer in the same transaction, or answers
 * the stored one; a stored answer sets Idempotent-Replayed: true on the
 * response. Call before the first crm_db_run(); the statement's $1 must be
 * the caller's principal.
 */
void
crm_db_idempotent(struct crm_db *db, const char *key, const char *hash)
{
	kore_free(db->idem_key);
	kore_free(db->idem_hash);
	db->idem_key = kore_strdup(key);
	db->idem_hash = kore_strdup(hash);
}

/*
 * Append a text parameter ($1, $2, ... in order). `value` is copied; NULL
 * sends SQL NULL. Returns CRM_ERROR when there are too many parameters.
 */
int
crm_db_param(struct crm_db *db, const char *value, size_t len)
{
	int n;

	if (db->nparams >= CRM_DB_MAX_PARAMS)
		return (CRM_ERROR);

	n = db->nparams++;
	db->formats[n] = 0;
	if (value == NULL) {
		db->values[n] = NULL;
		db->lengths[n] = 0;
		return (CRM_OK);
	}

	db->values[n] = kore_malloc(len + 1);
	memcpy(db->values[n], value, len);
	db->values[n][len] = '\0';
	db->lengths[n] = (int)len;

	return (CRM_OK);
}

/*
 * Advance the query as far as it can go now. Returns CRM_DB_PENDING when
 * it waits for PostgreSQL or a free connection (the handler returns
 * KORE_RESULT_RETRY and Kore calls it again), CRM_DB_DONE when it ended,
 * with a value or an error.
 */
int
crm_db_run(struct crm_db *db)
{
	int r;

	for (;;) {
		switch (db->state) {
		case DB_STATE_SETUP:
			r = state_setup(db);
			break;
		case DB_STATE_QUERY:
			r = state_query(db);
			break;
		case DB_STATE_WAIT:
			r = state_wait(db);
			break;
		default:
			return (CRM_DB_DONE);
		}
		if (r == HTTP_STATE_RETRY)
			return (CRM_DB_PENDING);
	}
}

/* The error of a finished query; kind CRM_ERR_NONE when it succeeded. */
const struct crm_error *
crm_db_error(const struct crm_db *db)
{
	return (&db->err);
}

/*
 * The first column of the first row, NUL-terminated, its length in *len;
 * NULL when there was no row or the value was SQL NULL. Borrowed: valid
 * until crm_db_free().
 */
const char *
crm_db_value(const struct crm_db *db, size_t *len)
{
	if (len != NULL)
		*len = db->value_len;
	return (db->value);
}

/* PostgreSQL's own message for a failed query (for logs only), or NULL. */
const char *
crm_db_detail(const struct crm_db *db)
{
	return (db->detail);
}

/* Take a connection from the pool, or wait in Kore's queue for one. */
static int
state_setup(struct crm_db *db)
{
	if (db->idem_key != NULL && !idem_wrap(db)) {
		crm_error_set(&db->err, CRM_ERR_INTERNAL,
		    "An internal error occurred; quote the request id.");
		kore_free(db->detail);
		db->detail = kore_strdup("a parameter is not UTF-8");
		db->state = DB_STATE_DONE;
		return (HTTP_STATE_CONTINUE);
	}

	if (!db->bound) {
		kore_pgsql_bind_request(&db->sql, db->req);
		db->bound = 1;
	}

	if (!kore_pgsql_setup(&db->sql, CRM_DB_NAME, KORE_PGSQL_ASYNC)) {
		/* Queued: Kore wakes the request when a connection frees. */
		if (db->sql.state == KORE_PGSQL_STATE_INIT)
			return (HTTP_STATE_RETRY);
		set_failure(db, db->sql.error);
		db->state = DB_STATE_DONE;
		return (HTTP_STATE_CONTINUE);
	}

	db->state = DB_STATE_QUERY;
	return (HTTP_STATE_CONTINUE);
}

/*
 * Statements are prepared once per connection and then only executed:
 * PostgreSQL skips parsing and planning, which is most of the cost of a
 * small statement (measured: /readyz from ~10,000 to ~16,000 requests/s).
 * Kore's API sends unnamed statements only, so this sends the execution
 * itself and then schedules the connection as Kore's pgsql_schedule()
 * does. A connection is known by its PGconn and backend pid: a reset
 * connection is a new session and prepares again.
 */
#define PREPARED_SLOTS 4096

struct prepared {
	const PGconn *conn;
	int pid;
	const char *statement;
};

static struct prepared prepared[PREPARED_SLOTS];

/* The slot for (conn, statement): its own, or the empty one to take. */
static struct prepared *
prepared_slot(const PGconn *conn, const char *statement)
{
	struct prepared *p;
	uintptr_t h;
	size_t i, n;

	h = ((uintptr_t)conn >> 4) * 31 + ((uintptr_t)statement >> 3);
	for (n = 0; n < PREPARED_SLOTS; n++) {
		i = (size_t)((h + n) % PREPARED_SLOTS);
		p = &prepared[i];
		if (p->statement == NULL ||
		    (p->conn == conn && p->statement == statement))
			return (p);
	}

	return (NULL);
}

/*
 * Send db->statement as a prepared statement (preparing it first on this
 * connection if needed: one blocking round trip, once per session) and
 * schedule the wait for its result. Falls back to an unnamed statement
 * when the slot table is full. Returns 0 on failure.
 */
static int
send_prepared(struct crm_db *db, const char **values)
{
	struct prepared *slot;
	PGconn *conn;
	PGresult *res;
	const char *state;
	char name[32];
	int pid, ok;

	conn = db->sql.conn->db;
	pid = PQbackendPID(conn);
	if ((slot = prepared_slot(conn, db->statement)) == NULL)
		return (kore_pgsql_query_param_fields(&db->sql, db->statement,
		    0, db->nparams, values, db->lengths, db->formats));

	(void)snprintf(name, sizeof(name), "crm_%lx",
	    (unsigned long)(uintptr_t)db->statement);
	if (slot->statement == NULL || slot->pid != pid) {
		res = PQprepare(conn, name, db->statement, db->nparams, NULL);
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		/* 42P05: the session has it already (a slot was reused). */
		ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
		    (state != NULL && strcmp(state, "42P05") == 0);
		PQclear(res);
		if (!ok)
			return (0);
		slot->conn = conn;
		slot->pid = pid;
		slot->statement = db->statement;
	}

	if (!PQsendQueryPrepared(conn, name, db->nparams, values, db->lengths,
		db->formats, 0))
		return (0);

	kore_platform_schedule_read(PQsocket(conn), db->sql.conn);
	db->sql.state = KORE_PGSQL_STATE_WAIT;
	db->sql.flags |= KORE_PGSQL_SCHEDULED;
	http_request_sleep(db->req);

	return (1);
}

/* Check the connection, then send the statement with its parameters. */
static int
state_query(struct crm_db *db)
{
	const char *values[CRM_DB_MAX_PARAMS];
	int i;

	for (i = 0; i < db->nparams; i++)
		values[i] = db->values[i];

	if (!conn_ready(db)) {
		set_failure(db, PQerrorMessage(db->sql.conn->db));
		kore_pgsql_cleanup(&db->sql);
		db->bound = 0;
		db->state = DB_STATE_DONE;
		return (HTTP_STATE_CONTINUE);
	}

	if (!send_prepared(db, values)) {
		set_failure(db,
		    db->sql.error != NULL ? db->sql.error
					  : PQerrorMessage(db->sql.conn->db));
		if (PQstatus(db->sql.conn->db) == CONNECTION_BAD &&
		    PQsocket(db->sql.conn->db) < 0)
			db->sql.flags &= ~KORE_PGSQL_SCHEDULED;
		kore_pgsql_cleanup(&db->sql);
		db->bound = 0;
		db->state = DB_STATE_DONE;
		return (HTTP_STATE_CONTINUE);
	}

	db->state = DB_STATE_WAIT;
	return (HTTP_STATE_CONTINUE);
}

/* React to what Kore's pgsql layer saw on the connection. */
static int
state_wait(struct crm_db *db)
{
	PGconn *conn;
	const char *v;
	int len;

	switch (db->sql.state) {
	case KORE_PGSQL_STATE_WAIT:
		return (HTTP_STATE_RETRY);
	case KORE_PGSQL_STATE_COMPLETE:
		db->state = DB_STATE_DONE;
		break;
	case KORE_PGSQL_STATE_RESULT:
		if (db->err.kind == CRM_ERR_NONE && db->value == NULL &&
		    db->rows == 0) {
			db->rows = kore_pgsql_ntuples(&db->sql);
			if (db->rows > 0 && kore_pgsql_nfields(&db->sql) > 0 &&
			    !PQgetisnull(db->sql.result, 0, 0)) {
				v = kore_pgsql_getvalue(&db->sql, 0, 0);
				len = kore_pgsql_getlength(&db->sql, 0, 0);
				db->value = kore_malloc((size_t)len + 1);
				memcpy(db->value, v, (size_t)len);
				db->value[len] = '\0';
				db->value_len = (size_t)len;
			}
			/* crm_idempotent() answers (value, replayed). */
			if (db->wrapped && db->rows > 0 &&
			    kore_pgsql_nfields(&db->sql) > 1 &&
			    !PQgetisnull(db->sql.result, 0, 1) &&
			    !strcmp(kore_pgsql_getvalue(&db->sql, 0, 1), "t"))
				http_response_header(db->req,
				    "idempotent-replayed", "true");
		}
		kore_pgsql_continue(&db->sql);
		break;
	case KORE_PGSQL_STATE_ERROR:
		set_failure(db, db->sql.error);
		conn = db->sql.conn != NULL ? db->sql.conn->db : NULL;
		if (conn == NULL || PQstatus(conn) == CONNECTION_BAD) {
			/*
			 * The connection is gone: libpq closed its socket,
			 * which left epoll by itself; Kore must not touch
			 * it. It is reset before its next use.
			 */
			if (conn != NULL && PQsocket(conn) < 0)
				db->sql.flags &= ~KORE_PGSQL_SCHEDULED;
			kore_pgsql_cleanup(&db->sql);
			db->bound = 0;
			db->state = DB_STATE_DONE;
			break;
		}
		/* A statement error: drain to the end, keeping the conn. */
		kore_pgsql_continue(&db->sql);
		break;
	default:
		kore_pgsql_continue(&db->sql);
		break;
	}

	return (HTTP_STATE_CONTINUE);
}

/*
 * Replace the statement and its parameters by CRM_IDEM_STATEMENT's: the
 * key, the request's hash, the statement text and its parameters as a
 * JSON array. Returns 0 when a parameter is not UTF-8 (nothing changes).
 */
static int
idem_wrap(struct crm_db *db)
{
	const char *values[CRM_DB_MAX_PARAMS];
	char *args;
	int i;

	for (i = 0; i < db->nparams; i++)
		values[i] = db->values[i];
	if ((args = crm_idem_args(values, db->nparams)) == NULL)
		return (0);

	for (i = 0; i < db->nparams; i++) {
		kore_free(db->values[i]);
		db->values[i] = NULL;
	}
	db->values[0] = db->idem_key;
	db->values[1] = db->idem_hash;
	db->values[2] = kore_strdup(db->statement);
	db->values[3] = kore_strdup(args);
	free(args);
	for (i = 0; i < 4; i++) {
		db->lengths[i] = (int)strlen(db->values[i]);
		db->formats[i] = 0;
	}
	db->nparams = 4;
	db->statement = CRM_IDEM_STATEMENT;
	db->idem_key = NULL;
	db->idem_hash = NULL;
	db->wrapped = 1;

	return (1);
}

/*
 * Make sure the pooled connection is usable before sending. An idle
 * connection has nothing to read: data (PostgreSQL's FATAL notice before it
 * closes a terminated session), end of file or an error mean the server
 * dropped it, which libpq notices only after the next query has been sent
 * and lost. One non-blocking peek per query finds out first. A connection
 * found bad, or left inside a transaction, is reset (blocking, but only
 * when PostgreSQL went away or a transaction leaked).
 */
static int
conn_ready(struct crm_db *db)
{
	PGconn *conn;
	ssize_t n;
	char c;
	int fd;

	conn = db->sql.conn->db;
	if (PQstatus(conn) == CONNECTION_OK &&
	    PQtransactionStatus(conn) == PQTRANS_IDLE &&
	    (fd = PQsocket(conn)) >= 0) {
		n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return (1);
	}

	if (PQstatus(conn) == CONNECTION_OK &&
	    PQtransactionStatus(conn) != PQTRANS_IDLE)
		kore_log(LOG_WARNING,
		    "pgsql: connection left in a "
		    "transaction; resetting it");

	PQreset(conn);
	return (PQstatus(conn) == CONNECTION_OK);
}

/*
 * Record the first failure of the query: the client gets a problem mapped
 * from the SQLSTATE (503 when there is none: the connection failed), the
 * log gets PostgreSQL's message.
 */
static void
set_failure(struct crm_db *db, const char *message)
{
	struct prepared *slot;
	const char *state, *primary, *fields;

	if (db->err.kind != CRM_ERR_NONE)
		return;

	state = NULL;
	primary = NULL;
	fields = NULL;
	if (db->sql.result != NULL) {
		state = PQresultErrorField(db->sql.result, PG_DIAG_SQLSTATE);
		primary =
		    PQresultErrorField(db->sql.result, PG_DIAG_MESSAGE_PRIMARY);
		fields =
		    PQresultErrorField(db->sql.result, PG_DIAG_MESSAGE_DETAIL);
	}
	crm_error_from_pg(&db->err, state, primary, fields);

	/* A session that lost our prepared statement prepares it again. */
	if (state != NULL && strcmp(state, "26000") == 0 &&
	    db->sql.conn != NULL &&
	    (slot = prepared_slot(db->sql.conn->db, db->statement)) != NULL)
		slot->pid = 0;

	kore_free(db->detail);
	db->detail = kore_strdup(
	    message != NULL && *message != '\0' ? message : "connection lost");
}
