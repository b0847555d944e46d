/*
 * The request pipeline. Kore routes every path to crm_dispatch(), which
 * gives each request an id, finds its route in api_routes[] (so unknown
 * paths and methods get RFC 9457 problems instead of Kore's empty error
 * pages), enforces the body limit, authenticates the caller and counts
 * the request against its rate limit, reads and checks the
 * Idempotency-Key, the query string and the JSON body, then calls the
 * handler; and
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

static struct api_ctx *ctx_new(struct http_request *);
static void ctx_free(struct http_request *);
static int route_find(struct http_request *, struct api_ctx *);
static int placeholders(const char *);
static void allow_append(char *, size_t, const char *);
static void remote_address(struct http_request *, char *, size_t);
static int query_read(struct http_request *, struct api_ctx *);
static int body_read(struct http_request *, struct api_ctx *);
static size_t body_max(struct http_request *);

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

	/*
	 * The body is complete when a handler first runs, but Kore 4.1
	 * leaves its body timer (http_body_timeout) armed when the body came
	 * in more than one read: the connection would get a 408 once that
	 * long had passed since the request began, while a long handler (a
	 * bulk import) still works. Disarm it; the next request re-arms
	 * the header timer.
	 */
	if (req->owner != NULL)
		req->owner->http_timeout = 0;

	/*
	 * Size first: an oversized body is refused whatever its path. The
	 * length is http_body_length: Kore 4.1 sets content_length only for
	 * requests with a body, and a pooled request keeps the last one's
	 * (its response's length), which would refuse a GET after a large
	 * answer.
	 */
	if (req->http_body_length > api_config.json_body_max &&
	    req->http_body_length > body_max(req))
		return (api_respond_error(req, ctx, CRM_ERR_TOO_LARGE,
		    "The request body exceeds the limit for this route."));
	if (!route_find(req, ctx))
		return (KORE_RESULT_OK);
	if (ctx->route->scope != NULL &&
	    (!api_authenticate(req, ctx) || !api_ratelimit_check(req, ctx)))
		return (KORE_RESULT_OK);
	if (!api_idempotency_read(req, ctx) || !query_read(req, ctx) ||
	    !body_read(req, ctx) || !api_idempotency_hash(req, ctx))
		return (KORE_RESULT_OK);

	return (ctx->route->handler(req, ctx));
}

/* Allocate the request's context, with its id, and hook the access log. */
static struct api_ctx *
ctx_new(struct http_request *req)
{
	struct api_ctx *ctx;
	const char *hdr;

	ctx = kore_calloc(1, sizeof(*ctx));
	ctx->start_ms = kore_time_ms();
	remote_address(req, ctx->ip, sizeof(ctx->ip));

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

/*
 * Kore's onfree hook: log the request once, then release its statement
 * and context. Kore calls it again later while a task still runs (the
 * thread writes into ctx->work), so the context outlives the task.
 */
static void
ctx_free(struct http_request *req)
{
	struct crm_access a;
	struct api_ctx *ctx;
	struct timespec ts;
	char *line;
	const char *agent;
	size_t len;

	if ((ctx = req->hdlr_extra) == NULL)
		return;

	if (!ctx->logged) {
		ctx->logged = 1;
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		agent = NULL;
		(void)http_request_header(req, "user-agent", &agent);

		memset(&a, 0, sizeof(a));
		a.request_id = ctx->request_id;
		a.method = http_method_text(req->method);
		a.path = req->path;
		a.route = ctx->route != NULL ? ctx->route->operation : NULL;
		a.remote = ctx->ip;
		a.user_agent = agent;
		a.status = ctx->status != 0 ? ctx->status : req->status;
		a.duration_ms = (double)(kore_time_ms() - ctx->start_ms);
		a.time_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

		if ((line = crm_accesslog_line(&a, &len)) != NULL) {
			/* One write(2) per line keeps workers' lines whole. */
			(void)write(STDOUT_FILENO, line, len);
			free(line);
		}
	}

	/* A bulk job's thread may still read the body and write its result. */
	if (ctx->job != NULL && !ctx->job_free(ctx->job))
		return;
	ctx->job = NULL;

	if (ctx->work != NULL && ctx->work->started) {
		if (!kore_task_finished(&ctx->work->task))
			return;
		/* Kore destroys it itself when the client left first. */
		if (ctx->work->task.req != NULL)
			kore_task_destroy(&ctx->work->task);
	}

	crm_db_free(ctx->db);
	json_decref(ctx->body);
	json_decref(ctx->query);
	json_decref(ctx->state);
	kore_free(ctx->principal);
	if (ctx->work != NULL) {
		explicit_bzero(ctx->work->password,
		    sizeof(ctx->work->password));
		kore_free(ctx->work);
	}
	kore_free(ctx);
	req->hdlr_extra = NULL;
}

/*
 * Find the route for the request's path and method. Where several
 * patterns match, the one with the fewest placeholders wins, whatever
 * their order in the table: /v1/customers/export is not a customer's id.
 * Answers 404 when no pattern matches, 405 (with Allow) when the path
 * exists for other methods, and 204 to OPTIONS. Returns 1 when the
 * handler should run.
 */
static int
route_find(struct http_request *req, struct api_ctx *ctx)
{
	const struct api_route *r, *matched[16];
	char allow[128];
	size_t i, n;
	int method, found, fewest, count[16];

	method =
	    req->method == HTTP_METHOD_HEAD ? HTTP_METHOD_GET : req->method;
	allow[0] = '\0';

	/* The patterns the path matches (a handful), and their placeholders. */
	fewest = -1;
	for (i = 0, n = 0; i < api_routes_count && n < 16; i++) {
		r = &api_routes[i];
		if (!crm_route_match(r->pattern, req->path, NULL))
			continue;
		matched[n] = r;
		count[n] = placeholders(r->pattern);
		if (fewest == -1 || count[n] < fewest)
			fewest = count[n];
		n++;
	}

	found = 0;
	for (i = 0; i < n; i++) {
		r = matched[i];
		if (count[i] != fewest)
			continue;
		if (r->method == method) {
			(void)crm_route_match(r->pattern, req->path,
			    &ctx->params);
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

/* The number of {placeholders} in a route pattern. */
static int
placeholders(const char *pattern)
{
	int n;

	for (n = 0; (pattern = strchr(pattern, '{')) != NULL; pattern++)
		n++;

	return (n);
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
 * Parse the query string against the route's parameter list into
 * ctx->query. Routes without a list ignore the query string (probes).
 */
static int
query_read(struct http_request *req, struct api_ctx *ctx)
{
	struct crm_error err;

	if (ctx->route->query == NULL)
		return (1);

	crm_error_init(&err);
	if (!crm_qs_parse(req->query_string, ctx->route->query, &ctx->query,
		&err)) {
		api_respond_problem(req, ctx, &err);
		crm_error_cleanup(&err);
		return (0);
	}

	return (1);
}

/*
 * For routes that take a JSON body: check the media type (415), read the
 * whole body (from memory or Kore's disk offload), parse it strictly (400)
 * and validate it against the route's fields (422, every field listed).
 * An empty body is an empty object, so actions without arguments need
 * none and creates list their missing fields. PATCH bodies are merge
 * patches: required fields may be absent.
 */
static int
body_read(struct http_request *req, struct api_ctx *ctx)
{
	struct crm_error err;
	const char *ctype;
	char *buf;
	size_t len, size;
	ssize_t n;
	int ok;

	if (ctx->route->body != API_BODY_JSON)
		return (1);

	/* No body at all reads as {} (POST /v1/opportunities/{id}/win). */
	crm_error_init(&err);
	if (req->content_length == 0) {
		ok = (ctx->body = json_object()) != NULL;
		if (!ok)
			crm_error_set(&err, CRM_ERR_INTERNAL, NULL);
		goto validate;
	}

	ctype = NULL;
	(void)http_request_header(req, "content-type", &ctype);
	if (!crm_json_media_type_ok(ctype)) {
		api_respond_error(req, ctx, CRM_ERR_UNSUPPORTED_MEDIA,
		    "Send the body as application/json (UTF-8).");
		return (0);
	}

	size = req->content_length;
	buf = kore_malloc(size + 1);
	len = 0;
	for (;;) {
		n = http_body_read(req, buf + len, size - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == size)
			break;
	}

	ok = (n >= 0 && crm_json_parse_object(buf, len, &ctx->body, &err));
	if (n < 0)
		crm_error_set(&err, CRM_ERR_BAD_REQUEST,
		    "The request body could not be read.");
	kore_free(buf);

validate:
	if (ok && ctx->route->fields != NULL)
		ok = crm_validate_object(ctx->body, ctx->route->fields,
		    req->method == HTTP_METHOD_PATCH, &err);
	if (!ok)
		api_respond_problem(req, ctx, &err);
	crm_error_cleanup(&err);

	return (ok);
}

/*
 * The largest body the request may send: import_body_max on the routes
 * that stream their body (bulk imports), json_body_max elsewhere.
 */
static size_t
body_max(struct http_request *req)
{
	size_t i;

	for (i = 0; i < api_routes_count; i++) {
		if (api_routes[i].body == API_BODY_STREAM &&
		    api_routes[i].method == req->method &&
		    crm_route_match(api_routes[i].pattern, req->path, NULL))
			return (api_config.import_body_max);
	}

	return (api_config.json_body_max);
}

/*
 * The client's address: X-Real-IP from the proxy in front (a loopback
 * peer, or any peer with CRM_TRUST_PROXY=1), else the peer's own.
 */
static void
remote_address(struct http_request *req, char *out, size_t size)
{
	struct connection *c;
	const char *hdr;

	out[0] = '\0';
	if ((c = req->owner) == NULL)
		return;

	if (c->family == AF_INET)
		(void)inet_ntop(AF_INET, &c->addr.ipv4.sin_addr, out, size);
	else if (c->family == AF_INET6)
		(void)inet_ntop(AF_INET6, &c->addr.ipv6.sin6_addr, out, size);

	/* The proxy in front says who the client is; only it is believed. */
	if ((api_config.trust_proxy ||
		(c->family == AF_INET &&
		    c->addr.ipv4.sin_addr.s_addr == htonl(INADDR_LOOPBACK))) &&
	    http_request_header(req, "x-real-ip", &hdr) && strlen(hdr) < size &&
	    strspn(hdr, "0123456789abcdefABCDEF.:") == strlen(hdr))
		(void)kore_strlcpy(out, hdr, size);
}
