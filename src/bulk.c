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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "crm/bulk.h"

static PGconn *connect_db(const char *, struct crm_bulk_result *);
static int exec_ok(PGconn *, const char *, struct crm_bulk_result *);
static json_t *call_json(PGconn *, const char *, int, const char *const *,
    struct crm_bulk_result *);
static void fail_pg(PGconn *, PGresult *, struct crm_bulk_result *);
static int copy_rows(PGconn *, const struct crm_import_request *,
    struct crm_import *, struct crm_bulk_result *);

void
crm_bulk_result_init(struct crm_bulk_result *res)
{
	memset(res, 0, sizeof(*res));
	crm_error_init(&res->err);
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
	crm_import_cleanup(&imp);
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
	if (conn != NULL)
		PQfinish(conn);
	json_decref(begun);
	json_decref(merged);
	crm_import_cleanup(&imp);
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
	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		return (conn);

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
