/*
 * The request pipeline. Kore routes every path to crm_dispatch(), which
 * gives each request an id, finds its route in api_routes[] (so unknown
 * paths and methods get RFC 9457 problems instead of Kore's empty error
 * pages), enforces the body limit and media type, calls the handler, and
 * writes one JSON access-log line when the request is freed.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "crm/accesslog.h"
#include "crm/json.h"
#include "crm/problem.h"

static struct api_ctx *ctx_new(struct http_request *);
static void ctx_free(struct http_request *);
static int route_find(struct http_request *, struct api_ctx *);
static void allow_append(char *, size_t, const char *);
static void remote_address(struct http_request *, char *, size_t);
static int media_check(struct http_request *, struct api_ctx *);

/*
 * The only Kore handler. Runs once per request and again every time Kore
 * wakes a request whose handler returned KORE_RESULT_RETRY.
 */
int
crm_dispatch(struct http_request *req)
{
	struct api_ctx *ctx;

	if ((ctx = req->hdlr_extra) != NULL)
		return (ctx->route->handler(req, ctx));

	ctx = ctx_new(req);

	/* Size first: an oversized body is refused whatever its path. */
	if (req->content_length > api_config.json_body_max)
		return (api_respond_error(req, ctx, CRM_ERR_TOO_LARGE,
		    "The request body exceeds the limit for this route."));
	if (!route_find(req, ctx))
		return (KORE_RESULT_OK);
	if (!media_check(req, ctx))
		return (KORE_RESULT_OK);

	return (ctx->route->handler(req, ctx));
}

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
 * when it has one. The handler returns what this returns.
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
 * Run the handler's query (ctx->db) to its end and answer with the JSON
 * PostgreSQL built: `status` on a row, 404 on none, a problem on error.
 * Returns KORE_RESULT_RETRY while the query waits.
 */
int
api_db_respond(struct http_request *req, struct api_ctx *ctx, int status)
{
	const struct crm_error *err;
	const char *value;
	size_t len;

	if (crm_db_run(ctx->db) == CRM_DB_PENDING)
		return (KORE_RESULT_RETRY);

	err = crm_db_error(ctx->db);
	if (err->kind != CRM_ERR_NONE) {
		kore_log(LOG_WARNING, "request %s: %s: %s", ctx->request_id,
		    err->sqlstate[0] != '\0' ? err->sqlstate : "connection",
		    crm_db_detail(ctx->db));
		return (api_respond_problem(req, ctx, err));
	}

	if ((value = crm_db_value(ctx->db, &len)) == NULL)
		return (api_respond_error(req, ctx, CRM_ERR_NOT_FOUND,
		    "The resource does not exist."));

	return (api_respond_json(req, ctx, status, value, len));
}

/* Allocate the request's context, with its id, and hook the access log. */
static struct api_ctx *
ctx_new(struct http_request *req)
{
	struct api_ctx *ctx;
	const char *hdr;

	ctx = kore_calloc(1, sizeof(*ctx));
	ctx->start_ms = kore_time_ms();

	/* The proxy in front (or a client) may pass its own id on. */
	if (http_request_header(req, "x-request-id", &hdr) &&
	    crm_request_id_valid(hdr)) {
		(void)kore_strlcpy(ctx->request_id, hdr,
		    sizeof(ctx->request_id));
	} else if (!crm_request_id_new(ctx->request_id,
		       sizeof(ctx->request_id))) {
		fatal("crm: no randomness for request ids");
	}

	req->hdlr_extra = ctx;
	req->onfree = ctx_free;
	http_response_header(req, "x-request-id", ctx->request_id);
	http_response_header(req, "cache-control", "no-store");

	return (ctx);
}

/* Kore's onfree hook: log the request, release its query and context. */
static void
ctx_free(struct http_request *req)
{
	struct crm_access a;
	struct api_ctx *ctx;
	struct timespec ts;
	char *line, remote[INET6_ADDRSTRLEN];
	const char *agent;
	size_t len;

	if ((ctx = req->hdlr_extra) == NULL)
		return;

	remote_address(req, remote, sizeof(remote));
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	agent = NULL;
	(void)http_request_header(req, "user-agent", &agent);

	memset(&a, 0, sizeof(a));
	a.request_id = ctx->request_id;
	a.method = http_method_text(req->method);
	a.path = req->path;
	a.route = ctx->route != NULL ? ctx->route->operation : NULL;
	a.remote = remote;
	a.user_agent = agent;
	a.status = ctx->status != 0 ? ctx->status : req->status;
	a.duration_ms = (double)(kore_time_ms() - ctx->start_ms);
	a.time_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

	if ((line = crm_accesslog_line(&a, &len)) != NULL) {
		/* One write(2) per line keeps lines of workers whole. */
		(void)write(STDOUT_FILENO, line, len);
		free(line);
	}

	crm_db_free(ctx->db);
	kore_free(ctx);
	req->hdlr_extra = NULL;
}

/*
 * Find the route for the request's path and method. Answers 404 when no
 * pattern matches, 405 (with Allow) when the path exists for other
 * methods, and 204 to OPTIONS. Returns 1 when the handler should run.
 */
static int
route_find(struct http_request *req, struct api_ctx *ctx)
{
	const struct api_route *r;
	char allow[128];
	size_t i;
	int method, found;

	method =
	    req->method == HTTP_METHOD_HEAD ? HTTP_METHOD_GET : req->method;
	found = 0;
	allow[0] = '\0';

	for (i = 0; i < api_routes_count; i++) {
		r = &api_routes[i];
		if (!crm_route_match(r->pattern, req->path, &ctx->params))
			continue;
		if (r->method == method) {
			ctx->route = r;
			return (1);
		}
		found = 1;
		allow_append(allow, sizeof(allow), http_method_text(r->method));
		if (r->method == HTTP_METHOD_GET)
			allow_append(allow, sizeof(allow), "HEAD");
	}

	if (!found) {
		api_respond_error(req, ctx, CRM_ERR_NOT_FOUND,
		    "No resource lives at this path.");
		return (0);
	}

	allow_append(allow, sizeof(allow), "OPTIONS");
	http_response_header(req, "allow", allow);
	if (req->method == HTTP_METHOD_OPTIONS) {
		ctx->status = 204;
		http_response(req, 204, NULL, 0);
		return (0);
	}

	api_respond_error(req, ctx, CRM_ERR_METHOD_NOT_ALLOWED,
	    "This resource does not support the method; see Allow.");
	return (0);
}

/* Append `method` to the comma-separated Allow list in `allow`. */
static void
allow_append(char *allow, size_t size, const char *method)
{
	size_t len;

	len = strlen(allow);
	(void)snprintf(allow + len, size - len, "%s%s", len > 0 ? ", " : "",
	    method);
}

/*
 * Refuse bodies that are not JSON where JSON is expected (415). Returns 1
 * when the request may go on.
 */
static int
media_check(struct http_request *req, struct api_ctx *ctx)
{
	const char *ctype;

	if (ctx->route->body != API_BODY_JSON)
		return (1);

	ctype = NULL;
	(void)http_request_header(req, "content-type", &ctype);
	if (!crm_json_media_type_ok(ctype)) {
		api_respond_error(req, ctx, CRM_ERR_UNSUPPORTED_MEDIA,
		    "Send the body as application/json (UTF-8).");
		return (0);
	}

	return (1);
}

/* The client's address: X-Real-IP from the local proxy, else the peer. */
static void
remote_address(struct http_request *req, char *out, size_t size)
{
	struct connection *c;
	const char *hdr;

	out[0] = '\0';
	if ((c = req->owner) == NULL)
		return;

	if (c->family == AF_INET) {
		(void)inet_ntop(AF_INET, &c->addr.ipv4.sin_addr, out, size);
		if (c->addr.ipv4.sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
		    http_request_header(req, "x-real-ip", &hdr) &&
		    strlen(hdr) < size &&
		    strspn(hdr, "0123456789abcdefABCDEF.:") == strlen(hdr))
			(void)kore_strlcpy(out, hdr, size);
	} else if (c->family == AF_INET6) {
		(void)inet_ntop(AF_INET6, &c->addr.ipv6.sin6_addr, out, size);
	}
}
