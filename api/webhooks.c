/*
 * Outbound events (R61): the event feed and webhook subscriptions with
 * their delivery log. Each handler runs one api_* function of
 * sql/0031_events_webhooks.sql. A subscription's URL is checked here
 * before the statement: parsed (422), then resolved in a task thread,
 * off the event loop, and every address classified (crm_addr_class); the
 * database decides whether an internal host is allowed. The signing
 * secret is made here and shown in the create response only; the
 * database keeps it where the server's role cannot read it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "crm/auth.h"
#include "crm/webhook.h"

static int url_check(struct http_request *, struct api_ctx *);
static const char *url_internal(struct api_ctx *);
static const char *url_error(struct api_ctx *);
static int created(struct http_request *, struct api_ctx *);

/* GET /v1/events */
int
api_events_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_events_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/*
 * Check the body's url, if it has one: parse it here, then resolve it in
 * a task thread and classify its addresses. Returns 1 when the check is
 * done (or there is no url) and the handler may go on: ctx->work then
 * holds the verdict, for url_internal() and url_error(). Else 0, and the
 * handler returns KORE_RESULT_RETRY while the task runs.
 */
static int
url_check(struct http_request *req, struct api_ctx *ctx)
{
	struct crm_webhook_url u;
	struct crm_error err;
	const char *url, *msg;
	struct api_work *w;
	char addr[64];

	if ((url = json_string_value(json_object_get(ctx->body, "url"))) ==
	    NULL)
		return (1);

	if (ctx->work == NULL) {
		/*
		 * Only admins subscribe (the database refuses anyone else
		 * first): nobody else makes the server resolve a name. An
		 * admin whose token predates the role gets an unchecked url
		 * refused, never accepted.
		 */
		if (!ctx->admin_claim) {
			w = ctx->work = kore_calloc(1, sizeof(*ctx->work));
			w->resolve = 1;
			w->verdict = -1;
			(void)kore_strlcpy(w->detail,
			    "url was not checked: sign in again as an admin.",
			    sizeof(w->detail));
			return (1);
		}
		crm_error_init(&err);
		if (crm_webhook_url_parse(url, &u, &err)) {
			crm_error_cleanup(&err);
			(void)api_work_resolve(req, ctx, url);
			return (0);
		}
		/* Unparsable: a verdict without a task. */
		w = ctx->work = kore_calloc(1, sizeof(*ctx->work));
		w->resolve = 1;
		w->verdict = -1;
		msg = json_string_value(
		    json_object_get(json_array_get(err.errors, 0), "message"));
		(void)kore_strlcpy(w->detail, msg != NULL ? msg : err.detail,
		    sizeof(w->detail));
		crm_error_cleanup(&err);
		return (1);
	}
	if (ctx->work->started && !api_work_done(req, ctx))
		return (0);

	w = ctx->work;
	if (w->verdict == CRM_ADDR_BLOCKED) {
		(void)kore_strlcpy(addr, w->detail, sizeof(addr));
		(void)snprintf(w->detail, sizeof(w->detail),
		    "url resolves to %s, an address no webhook may reach "
		    "(unspecified, multicast, reserved, documentation or cloud "
		    "metadata).",
		    addr);
		w->verdict = -1;
	}

	return (1);
}

/* The statement's p_internal: "true"/"false" after a check, else NULL. */
static const char *
url_internal(struct api_ctx *ctx)
{
	if (ctx->work == NULL || !ctx->work->resolve || ctx->work->verdict < 0)
		return (NULL);

	return (ctx->work->verdict == CRM_ADDR_INTERNAL ? "true" : "false");
}

/* The statement's p_url_error: why the url was refused, else NULL. */
static const char *
url_error(struct api_ctx *ctx)
{
	if (ctx->work == NULL || !ctx->work->resolve || ctx->work->verdict >= 0)
		return (NULL);

	return (ctx->work->detail);
}

/*
 * POST /v1/webhooks (admin): 201 with the subscription and, this once,
 * its signing secret.
 */
int
api_webhooks_create(struct http_request *req, struct api_ctx *ctx)
{
	char secret[128];

	if (ctx->db == NULL) {
		if (!url_check(req, ctx))
			return (KORE_RESULT_RETRY);
		/* url is required: the check ran, and ctx->work holds it. */
		if (ctx->work == NULL ||
		    !crm_token_random(secret, sizeof(secret),
			CRM_WEBHOOK_SECRET_PREFIX))
			return (api_respond_error(req, ctx, CRM_ERR_INTERNAL,
			    NULL));
		(void)kore_strlcpy(ctx->work->encoded, secret,
		    sizeof(ctx->work->encoded));
		explicit_bzero(secret, sizeof(secret));
		api_db(req, ctx,
		    "SELECT api_webhooks_create($1, $2, $3, $4, $5)");
		(void)api_db_param_json(ctx, ctx->body);
		(void)api_db_param(ctx, ctx->work->encoded);
		(void)api_db_param(ctx, url_internal(ctx));
		(void)api_db_param(ctx, url_error(ctx));
	}

	if (crm_db_run(ctx->db) == CRM_DB_PENDING)
		return (KORE_RESULT_RETRY);

	return (created(req, ctx));
}

/*
 * The end of a create: the subscription PostgreSQL returned, with the
 * secret added, as 201 with Location; or the statement's problem.
 */
static int
created(struct http_request *req, struct api_ctx *ctx)
{
	const struct crm_error *err;
	const char *value;
	char location[128];
	json_t *doc;
	char *body;
	size_t len;

	err = crm_db_error(ctx->db);
	if (err->kind != CRM_ERR_NONE)
		return (api_respond_problem(req, ctx, err));
	value = crm_db_value(ctx->db, &len);
	if (value == NULL || (doc = json_loadb(value, len, 0, NULL)) == NULL)
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));

	json_object_set_new(doc, "secret", json_string(ctx->work->encoded));
	explicit_bzero(ctx->work->encoded, sizeof(ctx->work->encoded));
	body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	(void)snprintf(location, sizeof(location), "%s/%s", req->path,
	    json_string_value(json_object_get(doc, "id")));
	json_decref(doc);
	if (body == NULL)
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
	http_response_header(req, "location", location);
	api_respond_json(req, ctx, 201, body, strlen(body));
	explicit_bzero(body, strlen(body));
	free(body);

	return (KORE_RESULT_OK);
}

/* GET /v1/webhooks (admin) */
int
api_webhooks_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_webhooks_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* GET /v1/webhooks/{id} (admin) */
int
api_webhooks_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_webhooks_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* PATCH /v1/webhooks/{id} (admin): merge patch, If-Match optional. */
int
api_webhooks_update(struct http_request *req, struct api_ctx *ctx)
{
	char version[16];
	int im;

	if (ctx->db == NULL) {
		if (!api_path_id(req, ctx))
			return (KORE_RESULT_OK);
		if ((im = api_if_match(req, ctx, version, sizeof(version))) < 0)
			return (KORE_RESULT_OK);
		if (!url_check(req, ctx))
			return (KORE_RESULT_RETRY);
		api_db(req, ctx,
		    "SELECT api_webhooks_update($1, $2, $3, $4, $5, $6)");
		(void)api_db_param(ctx, ctx->params.value[0]);
		(void)api_db_param_json(ctx, ctx->body);
		(void)api_db_param(ctx, url_internal(ctx));
		(void)api_db_param(ctx, url_error(ctx));
		(void)api_db_param(ctx, im > 0 ? version : NULL);
	}

	return (api_db_respond(req, ctx, 200, API_RESP_ETAG));
}

/* DELETE /v1/webhooks/{id} (admin): 204. */
int
api_webhooks_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_webhooks_delete($1, $2)",
	    204, API_RESP_EMPTY));
}

/* GET /v1/webhooks/{id}/deliveries (admin): the delivery log. */
int
api_webhook_deliveries_list(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL) {
		if (!api_path_id(req, ctx))
			return (KORE_RESULT_OK);
		api_db(req, ctx,
		    "SELECT api_webhook_deliveries_list($1, $2, $3)");
		(void)api_db_param(ctx, ctx->params.value[0]);
		(void)api_db_param_json(ctx, ctx->query);
	}

	return (api_db_respond(req, ctx, 200, API_RESP_PLAIN));
}

/*
 * POST /v1/webhooks/{id}/deliveries/{delivery_id}/redeliver (admin): 202
 * with the new delivery, which the worker picks up at once.
 */
int
api_webhook_deliveries_redeliver(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL) {
		if (!crm_uuid_valid(ctx->params.value[0]) ||
		    !crm_uuid_valid(ctx->params.value[1]))
			return (api_respond_error(req, ctx, CRM_ERR_NOT_FOUND,
			    "The resource does not exist."));
		api_db(req, ctx,
		    "SELECT api_webhook_deliveries_redeliver($1, $2, $3)");
		(void)api_db_param(ctx, ctx->params.value[0]);
		(void)api_db_param(ctx, ctx->params.value[1]);
	}

	return (api_db_respond(req, ctx, 202, API_RESP_PLAIN));
}
