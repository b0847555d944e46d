/*
 * Running a bulk import against PostgreSQL (see include/crm/bulk.h and
 * sql/0032_imports.sql). One connection per import, one transaction:
 *
 *   BEGIN
 *   SELECT api_import_begin(principal, resource, options)
 *   COPY import_rows (line, ok, data) FROM STDIN    -- as the body is read
 *   SELECT api_import_merge(principal, import_id, read, failed)
 *   COMMIT, or ROLLBACK for a dry run and an atomic import with errors
 *
 * The body is read and parsed in chunks while COPY streams the lines to
 * the server, so memory stays flat whatever the size of the file. The
 * connection is closed at the end of the import whatever happened, so a
 * transaction never outlives its request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "crm/bulk.h"
#include "crm/csv.h"

/* Buffered writes of an export to its file. */
struct out {
	int fd;
	char buf[CRM_BULK_CHUNK];
	size_t len;
	int failed;
};

static PGconn *connect_db(const char *, struct crm_bulk_result *);
static void disconnect_db(PGconn *, struct crm_bulk_result *);
static int exec_ok(PGconn *, const char *, struct crm_bulk_result *);
static json_t *call_json(PGconn *, const char *, int, const char *const *,
    struct crm_bulk_result *);
static void fail_pg(PGconn *, PGresult *, struct crm_bulk_result *);
static int copy_rows(PGconn *, const struct crm_import_request *,
    struct crm_import *, struct crm_bulk_result *);
static int export_pages(PGconn *, const struct crm_export_request *, json_t *,
    struct out *, struct crm_bulk_result *);
static json_t *export_cells(json_t *, json_t *);
static void out_write(struct out *, const char *, size_t);
static void out_flush(struct out *);

void
crm_bulk_result_init(struct crm_bulk_result *res)
{
	memset(res, 0, sizeof(*res));
	crm_error_init(&res->err);
	res->conn_fd = -1;
}

void
crm_bulk_result_cleanup(struct crm_bulk_result *res)
{
	json_decref(res->report);
	crm_error_cleanup(&res->err);
	memset(res, 0, sizeof(*res));
}

/*
 * Import the body of `rq` (see the file's comment). Fills `res`: 200 and
 * the report ({read, inserted, updated, failed, errors_total, errors,
 * import_id, dry_run}); 422 with the report when an atomic import had
 * errors and wrote nothing; else the problem: 400 for a file refused as a
 * whole, the binding's 401/403, 503 when the database is unreachable.
 */
void
crm_import_run(const struct crm_import_request *rq, struct crm_bulk_result *res)
{
	struct crm_import imp;
	PGconn *conn;
	json_t *begun, *merged, *id;
	const char *params[4];
	char options[96], counts[2][24];
	int commit, failed;

	merged = begun = NULL;
	memset(&imp, 0, sizeof(imp));
	crm_error_init(&imp.fatal);
	if ((conn = connect_db(rq->conninfo, res)) == NULL)
		goto cleanup;
	if (!exec_ok(conn, "BEGIN", res))
		goto cleanup;

	(void)snprintf(options, sizeof(options),
	    "{\"mode\":\"%s\",\"atomic\":%s,\"format\":\"%s\"}",
	    rq->upsert ? "upsert" : "insert", rq->atomic ? "true" : "false",
	    rq->format == CRM_IMPORT_CSV ? "csv" : "ndjson");
	params[0] = rq->principal;
	params[1] = rq->spec->resource;
	params[2] = options;
	if ((begun = call_json(conn, "SELECT api_import_begin($1, $2, $3)", 3,
		 params, res)) == NULL)
		goto cleanup;
	id = json_object_get(begun, "import_id");

	/* The organisation's custom fields name the custom.<key> columns. */
	if (!crm_import_init(&imp, rq->spec, rq->format,
		json_object_get(begun, "custom"))) {
		crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
		goto cleanup;
	}
	imp.upsert = rq->upsert;
	if (!copy_rows(conn, rq, &imp, res))
		goto cleanup;

	(void)snprintf(counts[0], sizeof(counts[0]), "%ld", imp.read);
	(void)snprintf(counts[1], sizeof(counts[1]), "%ld", imp.failed);
	params[0] = rq->principal;
	params[1] = json_string_value(id);
	params[2] = counts[0];
	params[3] = counts[1];
	if ((merged = call_json(conn, "SELECT api_import_merge($1, $2, $3, $4)",
		 4, params, res)) == NULL)
		goto cleanup;

	failed = imp.failed > 0 ||
	    json_integer_value(json_object_get(merged, "failed")) > 0;
	commit = !rq->dry_run && !(rq->atomic && failed);
	if (!exec_ok(conn, commit ? "COMMIT" : "ROLLBACK", res))
		goto cleanup;

	res->report = crm_import_report(&imp, merged, !(rq->atomic && failed));
	if (res->report == NULL) {
		crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
		goto cleanup;
	}
	(void)json_object_set(res->report, "import_id",
	    commit ? id : json_null());
	(void)json_object_set_new(res->report, "dry_run",
	    json_boolean(rq->dry_run));
	if (rq->atomic && failed && !rq->dry_run) {
		res->status = 422;
		crm_error_set(&res->err, CRM_ERR_VALIDATION,
		    "%ld of %ld lines cannot be imported; as the import is "
		    "atomic, nothing was written. See errors.",
		    (long)json_integer_value(
			json_object_get(res->report, "failed")),
		    imp.read);
	} else {
		res->status = 200;
	}

cleanup:
	if (res->status == 0) {
		if (res->err.kind == CRM_ERR_NONE)
			crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
		res->status = crm_error_status(res->err.kind);
	}
	/* Closing the connection ends any transaction left open. */
	disconnect_db(conn, res);
	json_decref(begun);
	json_decref(merged);
	crm_import_cleanup(&imp);
}

/*
 * Export what the caller may see of `rq->resource` as CSV into rq->fd:
 * a UTF-8 byte order mark, the header, then one line per row of the
 * resource's own list (its filters, its visibility: the very function of
 * the list route), fetched CRM_EXPORT_PAGE rows at a time in one
 * repeatable-read transaction, so the file is one consistent picture
 * and memory holds one page whatever the size. Fills `res`: 200 and
 * {rows}, or the problem.
 */
void
crm_export_run(const struct crm_export_request *rq, struct crm_bulk_result *res)
{
	static struct out zero;
	struct out *out;
	PGconn *conn;
	json_t *begun, *columns;
	const char *params[2];
	char *line;
	size_t len;

	begun = NULL;
	if ((out = malloc(sizeof(*out))) == NULL) {
		crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
		res->status = 500;
		return;
	}
	*out = zero;
	out->fd = rq->fd;
	if ((conn = connect_db(rq->conninfo, res)) == NULL)
		goto cleanup;
	if (!exec_ok(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ", res))
		goto cleanup;
	params[0] = rq->principal;
	params[1] = rq->resource;
	if ((begun = call_json(conn, "SELECT api_export_begin($1, $2)", 2,
		 params, res)) == NULL)
		goto cleanup;
	columns = json_object_get(begun, "columns");
	if (!json_is_array(columns)) {
		crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
		goto cleanup;
	}

	/* Spreadsheets read UTF-8 (Chinese) right with a byte order mark. */
	out_write(out, "\xef\xbb\xbf", 3);
	if ((line = crm_csv_line(columns, &len)) == NULL) {
		crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
		goto cleanup;
	}
	out_write(out, line, len);
	free(line);

	if (!export_pages(conn, rq, columns, out, res))
		goto cleanup;
	out_flush(out);
	if (out->failed) {
		crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
		(void)snprintf(res->log, sizeof(res->log),
		    "export: cannot write the file: %s", strerror(out->failed));
		goto cleanup;
	}
	/* COMMIT keeps what the binding records (an API key's last use). */
	if (!exec_ok(conn, "COMMIT", res))
		goto cleanup;
	res->status = 200;

cleanup:
	if (res->status == 0) {
		if (res->err.kind == CRM_ERR_NONE)
			crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
		res->status = crm_error_status(res->err.kind);
	}
	disconnect_db(conn, res);
	json_decref(begun);
	free(out);
}

/*
 * The pages of the list, each row a line of `columns`. Returns 0 (with
 * `res` filled) when a page could not be had.
 */
static int
export_pages(PGconn *conn, const struct crm_export_request *rq, json_t *columns,
    struct out *out, struct crm_bulk_result *res)
{
	json_t *filters, *page, *row, *cells, *next;
	const char *params[2];
	char *text, *line;
	size_t i, len;
	long rows;
	int ok;

	filters = json_loads(rq->filters, 0, NULL);
	if (!json_is_object(filters) ||
	    json_object_set_new(filters, "limit",
		json_integer(CRM_EXPORT_PAGE)) != 0) {
		json_decref(filters);
		crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
		return (0);
	}
	rows = 0;
	ok = 1;
	for (;;) {
		if ((text = json_dumps(filters, JSON_COMPACT)) == NULL) {
			crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
			ok = 0;
			break;
		}
		params[0] = rq->principal;
		params[1] = text;
		page = call_json(conn, rq->statement, 2, params, res);
		free(text);
		if (page == NULL) {
			ok = 0;
			break;
		}
		json_array_foreach(json_object_get(page, "data"), i, row)
		{
			cells = export_cells(row, columns);
			line = cells != NULL ? crm_csv_line(cells, &len) : NULL;
			json_decref(cells);
			if (line == NULL) {
				out->failed = ENOMEM;
				break;
			}
			out_write(out, line, len);
			free(line);
			rows++;
		}
		next = json_object_get(page, "next_cursor");
		if (!json_is_string(next) || out->failed ||
		    json_object_set(filters, "cursor", next) != 0) {
			json_decref(page);
			break;
		}
		json_decref(page);
	}
	json_decref(filters);
	if (ok)
		res->report = json_pack("{s:I}", "rows", (json_int_t)rows);

	return (ok);
}

/*
 * The cells of `row` for `columns` (a new array): each column a key of
 * the row, or <key>.<sub> of one of its objects; absent ones are null.
 */
static json_t *
export_cells(json_t *row, json_t *columns)
{
	json_t *cells, *col, *v;
	const char *name, *dot;
	char key[128];
	size_t i, n;

	if ((cells = json_array()) == NULL)
		return (NULL);
	json_array_foreach(columns, i, col)
	{
		name = json_string_value(col);
		v = NULL;
		if (name != NULL && (dot = strchr(name, '.')) != NULL) {
			n = (size_t)(dot - name);
			if (n < sizeof(key)) {
				memcpy(key, name, n);
				key[n] = '\0';
				v = json_object_get(json_object_get(row, key),
				    dot + 1);
			}
		} else if (name != NULL) {
			v = json_object_get(row, name);
		}
		if (json_array_append(cells, v != NULL ? v : json_null()) !=
		    0) {
			json_decref(cells);
			return (NULL);
		}
	}

	return (cells);
}

static void
out_write(struct out *out, const char *s, size_t n)
{
	size_t take;

	while (n > 0 && !out->failed) {
		take = sizeof(out->buf) - out->len < n
		    ? sizeof(out->buf) - out->len
		    : n;
		memcpy(out->buf + out->len, s, take);
		out->len += take;
		s += take;
		n -= take;
		if (out->len == sizeof(out->buf))
			out_flush(out);
	}
}

/* Write what is buffered; remember the first error (errno). */
static void
out_flush(struct out *out)
{
	ssize_t w;
	size_t off;

	for (off = 0; off < out->len && !out->failed;) {
		w = write(out->fd, out->buf + off, out->len - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			out->failed = w == 0 ? EIO : errno;
		else
			off += (size_t)w;
	}
	out->len = 0;
}

/*
 * COPY the body's lines into import_rows as they are parsed. A file
 * refused as a whole (its header) aborts the COPY with imp's problem.
 */
static int
copy_rows(PGconn *conn, const struct crm_import_request *rq,
    struct crm_import *imp, struct crm_bulk_result *res)
{
	PGresult *pr;
	char *buf;
	ssize_t n;
	int ok;

	pr = PQexec(conn, "COPY import_rows (line, ok, data) FROM STDIN");
	if (PQresultStatus(pr) != PGRES_COPY_IN) {
		fail_pg(conn, pr, res);
		PQclear(pr);
		return (0);
	}
	PQclear(pr);

	if ((buf = malloc(CRM_BULK_CHUNK)) == NULL) {
		(void)PQputCopyEnd(conn, "out of memory");
		crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
		return (0);
	}
	ok = 1;
	for (;;) {
		n = rq->body.read(rq->body.arg, buf, CRM_BULK_CHUNK);
		if (n < 0) {
			crm_error_set(&res->err, CRM_ERR_BAD_REQUEST,
			    "The request body could not be read.");
			ok = 0;
			break;
		}
		if (n == 0 ? !crm_import_finish(imp)
			   : !crm_import_feed(imp, buf, (size_t)n)) {
			res->err.kind = imp->fatal.kind;
			(void)snprintf(res->err.detail, sizeof(res->err.detail),
			    "%s", imp->fatal.detail);
			res->err.errors = json_incref(imp->fatal.errors);
			ok = 0;
			break;
		}
		if (imp->out_len > 0 &&
		    PQputCopyData(conn, imp->out, (int)imp->out_len) != 1) {
			crm_error_from_sqlstate(&res->err, NULL);
			(void)snprintf(res->log, sizeof(res->log), "%s",
			    PQerrorMessage(conn));
			free(buf);
			return (0);
		}
		crm_import_drain(imp);
		if (n == 0)
			break;
	}
	free(buf);

	if (PQputCopyEnd(conn, ok ? NULL : "the import was refused") != 1) {
		crm_error_from_sqlstate(&res->err, NULL);
		return (0);
	}
	pr = PQgetResult(conn);
	if (ok && PQresultStatus(pr) != PGRES_COMMAND_OK) {
		fail_pg(conn, pr, res);
		ok = 0;
	}
	PQclear(pr);
	while ((pr = PQgetResult(conn)) != NULL)
		PQclear(pr);

	return (ok);
}

/* A connection of our own (named for pg_stat_activity), or NULL. */
static PGconn *
connect_db(const char *conninfo, struct crm_bulk_result *res)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *values[] = {conninfo, CRM_BULK_APP_NAME, NULL};
	PGconn *conn;

	conn = PQconnectdbParams(keys, values, 1);
	if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
		__atomic_store_n(&res->conn_fd, PQsocket(conn),
		    __ATOMIC_RELEASE);
		/*
		 * A long statement notices within a second that the job has
		 * gone (PostgreSQL 14+; a statement, not a startup option,
		 * which poolers refuse; without it, at its end).
		 */
		PQclear(PQexec(conn,
		    "SET client_connection_check_interval = 1000"));
		return (conn);
	}

	crm_error_from_sqlstate(&res->err, NULL);
	(void)snprintf(res->log, sizeof(res->log), "%s",
	    conn != NULL ? PQerrorMessage(conn) : "out of memory");
	PQfinish(conn);

	return (NULL);
}

/* Run a statement without parameters or rows (BEGIN, COMMIT). */
static int
exec_ok(PGconn *conn, const char *sql, struct crm_bulk_result *res)
{
	PGresult *pr;
	int ok;

	pr = PQexec(conn, sql);
	ok = PQresultStatus(pr) == PGRES_COMMAND_OK;
	if (!ok)
		fail_pg(conn, pr, res);
	PQclear(pr);

	return (ok);
}

/* Close what connect_db() opened (NULL: nothing). */
static void
disconnect_db(PGconn *conn, struct crm_bulk_result *res)
{
	if (conn == NULL)
		return;
	__atomic_store_n(&res->conn_fd, -1, __ATOMIC_RELEASE);
	PQfinish(conn);
}

/* Run a statement whose one value is JSON text; returns it parsed. */
static json_t *
call_json(PGconn *conn, const char *sql, int n, const char *const *params,
    struct crm_bulk_result *res)
{
	PGresult *pr;
	json_t *doc;

	doc = NULL;
	pr = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(pr) != PGRES_TUPLES_OK || PQntuples(pr) != 1 ||
	    PQgetisnull(pr, 0, 0)) {
		fail_pg(conn, pr, res);
	} else if ((doc = json_loads(PQgetvalue(pr, 0, 0), 0, NULL)) == NULL) {
		crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
	}
	PQclear(pr);

	return (doc);
}

/*
 * A failed statement as the API's problem (crm_error_from_pg: CRnnn are
 * the API's own errors), PostgreSQL's message kept for the log.
 */
static void
fail_pg(PGconn *conn, PGresult *pr, struct crm_bulk_result *res)
{
	const char *state, *primary, *fields;

	state = pr != NULL ? PQresultErrorField(pr, PG_DIAG_SQLSTATE) : NULL;
	primary =
	    pr != NULL ? PQresultErrorField(pr, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	fields =
	    pr != NULL ? PQresultErrorField(pr, PG_DIAG_MESSAGE_DETAIL) : NULL;
	if (state == NULL && PQstatus(conn) == CONNECTION_OK) {
		/* A statement that "succeeded" with the wrong shape. */
		crm_error_set(&res->err, CRM_ERR_INTERNAL, NULL);
	} else {
		crm_error_from_pg(&res->err, state, primary, fields);
	}
	(void)snprintf(res->log, sizeof(res->log), "%s%s%s",
	    state != NULL ? state : "connection", ": ",
	    pr != NULL && PQresultErrorMessage(pr)[0] != '\0'
		? PQresultErrorMessage(pr)
		: PQerrorMessage(conn));
}
