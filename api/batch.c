/*
 * Batch writes (issue 7, R61): POST /v1/{customers,contacts,leads,
 * opportunities,products,activities}/batch takes up to 500 creates,
 * updates and upserts (by external_id) and answers 200 with one result per
 * item, in order. Each item is checked with the single-record route's
 * field list (src/batch.c), and the accepted ones run in one statement,
 * api_batch() of sql/0033_batch.sql, each through the single-record
 * route's api_* function in a subtransaction: every rule and visibility
 * answer is the one the item would get alone. With all_or_none, nothing
 * is written unless every item succeeds.
 *
 * Headers for bulk scripts, as Salesforce and EspoCRM offer:
 *   X-Skip-Assignment-Rules: true   new leads without owner_id stay the
 *                                   caller's (the assignment rules do
 *                                   not run); leads only have such rules.
 *   X-Skip-Duplicate-Check: true    items may name a record an earlier
 *                                   item of the batch named (the same id
 *                                   or external_id), applied in order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "crm/batch.h"

static int batch_run(struct http_request *, struct api_ctx *,
    const struct crm_batch_kind *);
static int batch_start(struct http_request *, struct api_ctx *,
    const struct crm_batch_kind *);
static int
batch_finish(struct http_request *, struct api_ctx *, const char *, size_t);
static int header_flag(struct http_request *, struct api_ctx *, const char *,
    const char *, int *);

/* POST /v1/customers/batch */
int
api_customers_batch(struct http_request *req, struct api_ctx *ctx)
{
	return (batch_run(req, ctx, &api_batch_customers));
}

/* POST /v1/contacts/batch: new contacts name their customer_id. */
int
api_contacts_batch(struct http_request *req, struct api_ctx *ctx)
{
	return (batch_run(req, ctx, &api_batch_contacts));
}

/* POST /v1/leads/batch */
int
api_leads_batch(struct http_request *req, struct api_ctx *ctx)
{
	return (batch_run(req, ctx, &api_batch_leads));
}

/* POST /v1/opportunities/batch */
int
api_opportunities_batch(struct http_request *req, struct api_ctx *ctx)
{
	return (batch_run(req, ctx, &api_batch_opportunities));
}

/* POST /v1/products/batch */
int
api_products_batch(struct http_request *req, struct api_ctx *ctx)
{
	return (batch_run(req, ctx, &api_batch_products));
}

/* POST /v1/activities/batch */
int
api_activities_batch(struct http_request *req, struct api_ctx *ctx)
{
	return (batch_run(req, ctx, &api_batch_activities));
}

/*
 * The whole handler of a batch of `kind`: check the items and start the
 * statement on the first run (ctx->state keeps the results across
 * wake-ups), then answer when it is done. Returns KORE_RESULT_RETRY while
 * the statement waits.
 */
static int
batch_run(struct http_request *req, struct api_ctx *ctx,
    const struct crm_batch_kind *kind)
{
	const struct crm_error *err;
	const char *value;
	size_t len;

	if (ctx->state == NULL)
		return (batch_start(req, ctx, kind));

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
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));

	return (batch_finish(req, ctx, value, len));
}

/*
 * First run: read the headers (400 for a value other than true or false),
 * check every item, and send the accepted ones to api_batch($1 caller, $2
 * resource, $3 items, $4 options). A batch none of whose items reached
 * the database is answered at once.
 */
static int
batch_start(struct http_request *req, struct api_ctx *ctx,
    const struct crm_batch_kind *kind)
{
	json_t *todo, *opts;
	size_t refused;
	int skip_duplicates, keep_owner;

	if (!header_flag(req, ctx, "x-skip-duplicate-check",
		"X-Skip-Duplicate-Check", &skip_duplicates) ||
	    !header_flag(req, ctx, "x-skip-assignment-rules",
		"X-Skip-Assignment-Rules", &keep_owner))
		return (KORE_RESULT_OK);

	if (!crm_batch_check(kind, json_object_get(ctx->body, "items"),
		skip_duplicates, req->path, ctx->request_id, &ctx->state,
		&todo))
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
	if (json_array_size(todo) == 0) {
		json_decref(todo);
		return (batch_finish(req, ctx, NULL, 0));
	}

	refused = json_array_size(ctx->state) - json_array_size(todo);
	opts = json_pack("{s:b, s:b, s:b}", "all_or_none",
	    json_is_true(json_object_get(ctx->body, "all_or_none")), "failed",
	    refused > 0, "keep_owner", keep_owner);
	api_db(req, ctx, "SELECT api_batch($1, $2, $3, $4)");
	(void)api_db_param(ctx, kind->resource);
	(void)api_db_param_json(ctx, todo);
	(void)api_db_param_json(ctx, opts);
	json_decref(todo);
	json_decref(opts);

	return (batch_run(req, ctx, kind));
}

/*
 * Answer 200 with the batch's results: `value` is what api_batch()
 * returned (NULL when nothing reached the database). The database's own
 * messages of failed items go to the log, never to the client.
 */
static int
batch_finish(struct http_request *req, struct api_ctx *ctx, const char *value,
    size_t len)
{
	json_t *logs, *e;
	char *answer;
	size_t i, n;
	int r;

	if ((logs = json_array()) == NULL)
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
	answer = crm_batch_answer(ctx->state, value, len,
	    json_is_true(json_object_get(ctx->body, "all_or_none")), req->path,
	    ctx->request_id, logs, &n);
	json_array_foreach(logs, i, e)
	{
		kore_log(LOG_WARNING, "request %s: batch item %lld: %s: %s",
		    ctx->request_id,
		    (long long)json_integer_value(json_object_get(e, "index")),
		    json_string_value(json_object_get(e, "state")),
		    json_string_value(json_object_get(e, "message")) != NULL
			? json_string_value(json_object_get(e, "message"))
			: "");
	}
	json_decref(logs);

	if (answer == NULL) {
		kore_log(LOG_WARNING, "request %s: batch answer malformed",
		    ctx->request_id);
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
	}
	r = api_respond_json(req, ctx, 200, answer, n);
	free(answer);

	return (r);
}

/*
 * Header `name` (`label` in messages) as a flag into *on: absent or
 * "false" is 0, "true" 1 (any case). Anything else answers 400 and
 * returns 0.
 */
static int
header_flag(struct http_request *req, struct api_ctx *ctx, const char *name,
    const char *label, int *on)
{
	const char *v;
	char detail[96];

	*on = 0;
	if (!http_request_header(req, name, &v) || !strcasecmp(v, "false"))
		return (1);
	if (!strcasecmp(v, "true")) {
		*on = 1;
		return (1);
	}
	(void)snprintf(detail, sizeof(detail), "%s must be true or false.",
	    label);
	api_respond_error(req, ctx, CRM_ERR_BAD_REQUEST, detail);

	return (0);
}
