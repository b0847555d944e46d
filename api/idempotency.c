/*
 * Idempotency-Key on POST, the request side: the router checks the header
 * before it reads the body (api_idempotency_read) and hashes the request
 * once the body is parsed (api_idempotency_hash); the request's first
 * statement is then sent through the database's crm_idempotent() wrapper
 * (api_db in respond.c, crm_db_idempotent in src/db.c): the first answer
 * is stored with the work in one transaction for 24 hours, keyed by
 * (organisation, caller, key), and a retry of the same request gets it
 * back with Idempotent-Replayed: true, and with the status, Location and
 * ETag of the first time, since the handler answers from the same value.
 *
 * Honoured on every authenticated POST whose work is its one statement.
 * Refused (400) where it cannot hold: public routes (login, refresh,
 * logout, web forms: there is no caller to keep it for) and the routes in
 * secret_routes[]. Other methods ignore it: GET, PUT and DELETE are
 * idempotent already, PATCH has If-Match.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "crm/idempotency.h"

#define HEADER "Idempotency-Key"

/*
 * Operations whose answer holds a secret the handler makes (a new API
 * key, a web form's key) and shows once: storing the answer would keep
 * the secret, and a replay without it would be another answer.
 */
static const char *const secret_routes[] = {
    "createApiKey",
    "createLeadForm",
    "createWebhook",
    NULL,
};

static int secret_route(const struct api_route *);
static int
refuse(struct http_request *, struct api_ctx *, const char *, const char *);

/*
 * Check the request's Idempotency-Key and keep it in ctx->idem_key.
 * Returns 1 when the request goes on (with or without a key); answers
 * 400 itself and returns 0 for a key that is malformed or sent to a
 * route that cannot honour it, whatever the body.
 */
int
api_idempotency_read(struct http_request *req, struct api_ctx *ctx)
{
	const char *key, *why;
	char detail[160];

	if (req->method != HTTP_METHOD_POST ||
	    !http_request_header(req, "idempotency-key", &key))
		return (1);

	if (!crm_idem_key_valid(key))
		return (refuse(req, ctx, "invalid",
		    "Idempotency-Key must be 1 to 255 printable ASCII "
		    "characters."));

	why = NULL;
	if (ctx->principal == NULL)
		why = "public routes have no caller to keep it for";
	else if (secret_route(ctx->route))
		why = "its answer holds a secret that is shown once and never "
		      "stored";
	else if (ctx->route->body != API_BODY_JSON &&
	    ctx->route->body != API_BODY_NONE)
		why = "a bulk import is not kept; send it again with "
		      "mode=upsert, which updates what the first run wrote";
	if (why != NULL) {
		(void)snprintf(detail, sizeof(detail),
		    "This route does not take an Idempotency-Key: %s.", why);
		return (refuse(req, ctx, "unsupported", detail));
	}

	(void)kore_strlcpy(ctx->idem_key, key, sizeof(ctx->idem_key));

	return (1);
}

/*
 * With a key, hash the request (method, path, parsed body) into
 * ctx->idem_hash. Returns 1, or answers 500 and returns 0 when OpenSSL
 * fails.
 */
int
api_idempotency_hash(struct http_request *req, struct api_ctx *ctx)
{
	/* Headers that change what a request does (a batch's options). */
	static const char *const options[] = {"x-skip-assignment-rules",
	    "x-skip-duplicate-check", NULL};
	const char *value;
	json_t *body, *with;
	size_t i;
	int ok;

	if (ctx->idem_key[0] == '\0')
		return (1);
	body = ctx->route->body == API_BODY_JSON ? ctx->body : NULL;
	with = NULL;
	for (i = 0; options[i] != NULL; i++) {
		if (!http_request_header(req, options[i], &value))
			continue;
		if (with == NULL)
			with = json_pack("{sO?}", "body", body);
		if (with != NULL)
			(void)json_object_set_new(with, options[i],
			    json_string(value));
	}
	ok = crm_idem_request_hash(api_config.jwt_secret, "POST", req->path,
	    with != NULL ? with : body, ctx->idem_hash);
	json_decref(with);
	if (ok)
		return (1);

	api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL);
	return (0);
}

/* Whether route `r` is one of secret_routes[]. */
static int
secret_route(const struct api_route *r)
{
	size_t i;

	for (i = 0; secret_routes[i] != NULL; i++) {
		if (strcmp(r->operation, secret_routes[i]) == 0)
			return (1);
	}

	return (0);
}

/* Answer 400 naming the header as the field at fault; returns 0. */
static int
refuse(struct http_request *req, struct api_ctx *ctx, const char *code,
    const char *detail)
{
	struct crm_error err;

	crm_error_init(&err);
	crm_error_set(&err, CRM_ERR_BAD_REQUEST, "%s", detail);
	crm_error_field(&err, HEADER, code, detail);
	api_respond_problem(req, ctx, &err);
	crm_error_cleanup(&err);

	return (0);
}
