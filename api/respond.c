/*
 * Responses: JSON bodies, RFC 9457 problems, and the common end of every
 * database-backed handler (api_db_respond), which answers with the JSON
 * text PostgreSQL built.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "crm/csv.h"
#include "crm/problem.h"

/*
 * Send `body` (JSON text of `len` bytes) with `status`. HEAD gets the
 * headers only (Kore leaves the body out).
 */
int
api_respond_json(struct http_request *req, struct api_ctx *ctx, int status,
    const char *body, size_t len)
{
	ctx->status = status;
	http_response_header(req, "content-type",
	    "application/json; charset=utf-8");
	http_response(req, status, body, len);

	return (KORE_RESULT_OK);
}

/*
 * Send `err` as an application/problem+json response, with Retry-After
 * when it has one and a Bearer challenge on 401. The handler returns what
 * this returns.
 */
int
api_respond_problem(struct http_request *req, struct api_ctx *ctx,
    const struct crm_error *err)
{
	char *doc, secs[16];
	size_t len;
	int status;

	status = crm_error_status(err->kind);
	ctx->status = status;

	if (err->retry_after > 0) {
		(void)snprintf(secs, sizeof(secs), "%d", err->retry_after);
		http_response_header(req, "retry-after", secs);
	}
	if (err->kind == CRM_ERR_UNAUTHORIZED)
		http_response_header(req, "www-authenticate",
		    "Bearer realm=\"crm\"");

	doc = crm_problem_render(err, req->path, ctx->request_id, &len);
	if (doc == NULL) {
		http_response(req, 500, NULL, 0);
		return (KORE_RESULT_OK);
	}

	http_response_header(req, "content-type",
	    "application/problem+json; charset=utf-8");
	http_response(req, status, doc, len);
	free(doc);

	return (KORE_RESULT_OK);
}

/* Shorthand: a problem of `kind` with `detail` (NULL: the title). */
int
api_respond_error(struct http_request *req, struct api_ctx *ctx,
    enum crm_error_kind kind, const char *detail)
{
	struct crm_error err;
	int r;

	crm_error_init(&err);
	crm_error_set(&err, kind, "%s", detail != NULL ? detail : "");
	if (kind == CRM_ERR_UNAVAILABLE)
		err.retry_after = 1;
	r = api_respond_problem(req, ctx, &err);
	crm_error_cleanup(&err);

	return (r);
}

/*
 * Start the request's statement `sql`; on authenticated routes the
 * caller's principal is its $1 (every api_* function binds it first).
 * With an Idempotency-Key (api/idempotency.c) the first statement of the
 * request runs once per key (crm_db_idempotent); a later one, if any,
 * runs as usual.
 */
struct crm_db *
api_db(struct http_request *req, struct api_ctx *ctx, const char *sql)
{
	ctx->db = crm_db_new(req, sql);
	if (ctx->principal != NULL)
		(void)api_db_param(ctx, ctx->principal);
	if (ctx->idem_key[0] != '\0' && ctx->principal != NULL) {
		crm_db_idempotent(ctx->db, ctx->idem_key, ctx->idem_hash);
		ctx->idem_key[0] = '\0';
	}

	return (ctx->db);
}

/* Add a text parameter (NULL: SQL NULL) to the request's statement. */
int
api_db_param(struct api_ctx *ctx, const char *value)
{
	return (
	    crm_db_param(ctx->db, value, value != NULL ? strlen(value) : 0));
}

/* Add a JSON value (NULL: an empty object) as a jsonb parameter. */
int
api_db_param_json(struct api_ctx *ctx, json_t *value)
{
	char *text;
	int r;

	if (value == NULL)
		return (api_db_param(ctx, "{}"));
	if ((text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return (CRM_ERROR);
	r = api_db_param(ctx, text);
	free(text);

	return (r);
}

/* Set Location (`flags` LOCATION) and ETag (ETAG) from a JSON body. */
static void
resource_headers(struct http_request *req, struct api_ctx *ctx,
    const char *body, size_t len, int flags)
{
	json_t *doc, *v;
	char buf[256];

	if ((doc = json_loadb(body, len, 0, NULL)) == NULL)
		return;
	v = json_object_get(doc, "id");
	if ((flags & API_RESP_LOCATION) && json_is_string(v)) {
		(void)snprintf(buf, sizeof(buf), "%s/%s",
		    ctx->location != NULL ? ctx->location : req->path,
		    json_string_value(v));
		http_response_header(req, "location", buf);
	}
	v = json_object_get(doc, "version");
	if ((flags & API_RESP_ETAG) && json_is_integer(v)) {
		(void)snprintf(buf, sizeof(buf), "\"%lld\"",
		    (long long)json_integer_value(v));
		http_response_header(req, "etag", buf);
	}
	json_decref(doc);
}

/*
 * Answer with the rows of the JSON answer `body` as CSV (crm_csv_rows),
 * as an attachment named after the path's last segment. Returns 0 when
 * the answer has no rows, and the caller answers JSON instead.
 */
static int
respond_csv(struct http_request *req, struct api_ctx *ctx, int status,
    const char *body, size_t len)
{
	json_t *doc, *rows;
	const char *name;
	char *csv, disposition[128];
	size_t n;

	doc = json_loadb(body, len, 0, NULL);
	rows = doc != NULL ? crm_csv_rows(doc) : NULL;
	csv = rows != NULL ? crm_csv_render(rows, &n) : NULL;
	json_decref(rows);
	json_decref(doc);
	if (csv == NULL)
		return (0);

	name = strrchr(req->path, '/');
	(void)snprintf(disposition, sizeof(disposition),
	    "attachment; filename=\"%s.csv\"", name != NULL ? name + 1 : "");
	ctx->status = status;
	http_response_header(req, "content-type", "text/csv; charset=utf-8");
	http_response_header(req, "content-disposition", disposition);
	http_response(req, status, csv, n);
	free(csv);

	return (1);
}

/*
 * Run the handler's statement (ctx->db) to its end and answer with the
 * JSON PostgreSQL built: `status` on a value, 404 on NULL or no row, a
 * problem on error. `flags` (API_RESP_*) add Location, ETag, turn the
 * success into 204, or let Accept: text/csv have it as CSV. Returns
 * KORE_RESULT_RETRY while the statement waits.
 */
int
api_db_respond(struct http_request *req, struct api_ctx *ctx, int status,
    int flags)
{
	const struct crm_error *err;
	const char *value, *accept;
	size_t len;

	if (crm_db_run(ctx->db) == CRM_DB_PENDING)
		return (KORE_RESULT_RETRY);

	err = crm_db_error(ctx->db);
	if (err->kind != CRM_ERR_NONE) {
		if (err->kind >= CRM_ERR_INTERNAL || err->sqlstate[0] != 'C')
			kore_log(LOG_WARNING, "request %s: %s: %s",
			    ctx->request_id,
			    err->sqlstate[0] != '\0' ? err->sqlstate
						     : "connection",
			    crm_db_detail(ctx->db));
		return (api_respond_problem(req, ctx, err));
	}

	if ((value = crm_db_value(ctx->db, &len)) == NULL)
		return (api_respond_error(req, ctx, CRM_ERR_NOT_FOUND,
		    "The resource does not exist."));

	if (flags & API_RESP_EMPTY) {
		ctx->status = 204;
		http_response(req, 204, NULL, 0);
		return (KORE_RESULT_OK);
	}
	if (flags & (API_RESP_LOCATION | API_RESP_ETAG))
		resource_headers(req, ctx, value, len, flags);
	if (flags & API_RESP_CSV) {
		http_response_header(req, "vary", "accept");
		accept = NULL;
		(void)http_request_header(req, "accept", &accept);
		if (crm_csv_accepted(accept) &&
		    respond_csv(req, ctx, status, value, len))
			return (KORE_RESULT_OK);
	}

	return (api_respond_json(req, ctx, status, value, len));
}

/* The id in the path: a UUID, or a 404 without asking the database. */
int
api_path_id(struct http_request *req, struct api_ctx *ctx)
{
	if (crm_uuid_valid(ctx->params.value[0]))
		return (1);
	api_respond_error(req, ctx, CRM_ERR_NOT_FOUND,
	    "The resource does not exist.");
	return (0);
}

/*
 * The If-Match version ("3" or W/"3") into `out`: 1 when given, 0 when
 * absent; answers 412 itself and returns -1 when it is not one of ours.
 */
int
api_if_match(struct http_request *req, struct api_ctx *ctx, char *out,
    size_t size)
{
	const char *hdr, *p;
	size_t n;

	if (!http_request_header(req, "if-match", &hdr))
		return (0);
	p = hdr;
	if (strncmp(p, "W/", 2) == 0)
		p += 2;
	if (*p == '"')
		p++;
	n = strspn(p, "0123456789");
	if (n == 0 || n >= size || n > 9 || (p[n] != '"' && p[n] != '\0')) {
		api_respond_error(req, ctx, CRM_ERR_PRECONDITION_FAILED,
		    "If-Match must be an ETag from this API.");
		return (-1);
	}
	memcpy(out, p, n);
	out[n] = '\0';

	return (1);
}

/*
 * The whole handler of a route whose statement takes the caller and the
 * path's id ($1, $2): 404 for an id that is not a UUID, then the answer
 * as api_db_respond() gives it.
 */
int
api_db_by_id(struct http_request *req, struct api_ctx *ctx, const char *sql,
    int status, int flags)
{
	if (ctx->db == NULL) {
		if (!api_path_id(req, ctx))
			return (KORE_RESULT_OK);
		api_db(req, ctx, sql);
		(void)api_db_param(ctx, ctx->params.value[0]);
	}

	return (api_db_respond(req, ctx, status, flags));
}

/*
 * The whole handler of a route on a record, or on a record inside
 * another: the statement takes the caller, every id of the path in order
 * ($2, $3, ...) and, when `arg` (borrowed) is not NULL, one JSON value
 * after them: the parsed body or query. 404 without asking the database
 * when an id is not a UUID, then the answer as api_db_respond() gives it.
 */
int
api_db_by_id_with(struct http_request *req, struct api_ctx *ctx,
    const char *sql, json_t *arg, int status, int flags)
{
	int i;

	if (ctx->db == NULL) {
		for (i = 0; i < ctx->params.count; i++) {
			if (!crm_uuid_valid(ctx->params.value[i]))
				return (api_respond_error(req, ctx,
				    CRM_ERR_NOT_FOUND,
				    "The resource does not exist."));
		}
		api_db(req, ctx, sql);
		for (i = 0; i < ctx->params.count; i++)
			(void)api_db_param(ctx, ctx->params.value[i]);
		if (arg != NULL)
			(void)api_db_param_json(ctx, arg);
	}

	return (api_db_respond(req, ctx, status, flags));
}

/*
 * The whole handler of a route whose statement takes the caller and one
 * JSON value ($1, $2): the parsed body or query, `arg`.
 */
int
api_db_with(struct http_request *req, struct api_ctx *ctx, const char *sql,
    json_t *arg, int status, int flags)
{
	if (ctx->db == NULL) {
		api_db(req, ctx, sql);
		(void)api_db_param_json(ctx, arg);
	}

	return (api_db_respond(req, ctx, status, flags));
}

/*
 * The whole handler of a change guarded by If-Match: the statement takes
 * the caller, the path's id, `body` when it is not NULL, and the version
 * from If-Match (NULL when absent). 404 for an id that is not a UUID, 412
 * for an If-Match that is not one of our ETags.
 */
int
api_db_versioned(struct http_request *req, struct api_ctx *ctx, const char *sql,
    json_t *body, int status, int flags)
{
	char version[16];
	int im;

	if (ctx->db == NULL) {
		if (!api_path_id(req, ctx) ||
		    (im = api_if_match(req, ctx, version, sizeof(version))) < 0)
			return (KORE_RESULT_OK);
		api_db(req, ctx, sql);
		(void)api_db_param(ctx, ctx->params.value[0]);
		if (body != NULL)
			(void)api_db_param_json(ctx, body);
		(void)api_db_param(ctx, im > 0 ? version : NULL);
	}

	return (api_db_respond(req, ctx, status, flags));
}
