/*
 * Leads (R20): capture, the status machine (new -> working -> mql -> sql
 * -> converted | disqualified) and its history, and the configuration an
 * admin keeps for them: scoring rules, grade thresholds and assignment
 * rules (one owner or a round-robin rotation), public web forms whose
 * key can only create leads, and conversion into customer, contact and
 * opportunity in one statement. Each handler runs one api_* function
 * of sql/0012_api_leads.sql; row-level security decides who sees what,
 * the database checks every status change and keeps every score.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "crm/auth.h"

#define FORM_KEY_PREFIX "lf_"

static int opportunity_valid(struct http_request *, struct api_ctx *);
static int db_object(struct http_request *, struct api_ctx *, json_t **);
static int respond_doc(struct http_request *, struct api_ctx *, int, json_t *);

/* GET /v1/leads */
int
api_leads_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_leads_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* POST /v1/leads */
int
api_leads_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_leads_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/leads/{id} */
int
api_leads_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_leads_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* PATCH /v1/leads/{id} */
int
api_leads_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_leads_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* DELETE /v1/leads/{id}: soft delete, 204. */
int
api_leads_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_leads_delete($1, $2, $3)", NULL, 204, API_RESP_EMPTY));
}

/* GET /v1/leads/{id}/history */
int
api_leads_history(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_leads_history($1, $2)", 200,
	    API_RESP_PLAIN));
}

/* POST /v1/leads/{id}/qualify {to} */
int
api_leads_qualify(struct http_request *req, struct api_ctx *ctx)
{
	return (
	    api_db_by_id_with(req, ctx, "SELECT api_leads_qualify($1, $2, $3)",
		ctx->body, 200, API_RESP_ETAG));
}

/* POST /v1/leads/{id}/disqualify {reason} */
int
api_leads_disqualify(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_leads_disqualify($1, $2, $3)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* POST /v1/leads/{id}/assign {owner_id?} */
int
api_leads_assign(struct http_request *req, struct api_ctx *ctx)
{
	return (
	    api_db_by_id_with(req, ctx, "SELECT api_leads_assign($1, $2, $3)",
		ctx->body, 200, API_RESP_ETAG));
}

/*
 * POST /v1/leads/{id}/convert: customer, contact and opportunity in one
 * statement. 201 the first time, 200 with the same ids after.
 */
int
api_leads_convert(struct http_request *req, struct api_ctx *ctx)
{
	json_t *doc;
	int r, status;

	if (ctx->db == NULL) {
		if (!api_path_id(req, ctx) || !opportunity_valid(req, ctx))
			return (KORE_RESULT_OK);
		api_db(req, ctx, "SELECT api_leads_convert($1, $2, $3)");
		(void)api_db_param(ctx, ctx->params.value[0]);
		(void)api_db_param_json(ctx, ctx->body);
	}

	if ((r = db_object(req, ctx, &doc)) <= 0)
		return (r == 0 ? KORE_RESULT_RETRY : KORE_RESULT_OK);
	status = json_integer_value(json_object_get(doc, "status")) == 201
	    ? 201
	    : 200;
	r = respond_doc(req, ctx, status, json_object_get(doc, "body"));
	json_decref(doc);

	return (r);
}

/* GET /v1/lead-scoring-rules */
int
api_lead_scoring_rules_list(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL)
		api_db(req, ctx, "SELECT api_lead_scoring_rules_list($1)");

	return (api_db_respond(req, ctx, 200, API_RESP_PLAIN));
}

/* POST /v1/lead-scoring-rules (admin) */
int
api_lead_scoring_rules_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx,
	    "SELECT api_lead_scoring_rules_create($1, $2)", ctx->body, 201,
	    API_RESP_LOCATION | API_RESP_ETAG));
}

/* PATCH /v1/lead-scoring-rules/{id} (admin) */
int
api_lead_scoring_rules_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_lead_scoring_rules_update($1, $2, $3, $4)", ctx->body,
	    200, API_RESP_ETAG));
}

/* DELETE /v1/lead-scoring-rules/{id} (admin): 204. */
int
api_lead_scoring_rules_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx,
	    "SELECT api_lead_scoring_rules_delete($1, $2)", 204,
	    API_RESP_EMPTY));
}

/* GET /v1/lead-grading */
int
api_lead_grading_get(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL)
		api_db(req, ctx, "SELECT api_lead_grading_get($1)");

	return (api_db_respond(req, ctx, 200, API_RESP_PLAIN));
}

/* PUT /v1/lead-grading {a, b, c, mql_score} (admin) */
int
api_lead_grading_put(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_lead_grading_put($1, $2)",
	    ctx->body, 200, API_RESP_PLAIN));
}

/* GET /v1/assignment-rules */
int
api_assignment_rules_list(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL)
		api_db(req, ctx, "SELECT api_assignment_rules_list($1)");

	return (api_db_respond(req, ctx, 200, API_RESP_PLAIN));
}

/* POST /v1/assignment-rules (admin) */
int
api_assignment_rules_create(struct http_request *req, struct api_ctx *ctx)
{
	return (
	    api_db_with(req, ctx, "SELECT api_assignment_rules_create($1, $2)",
		ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* PATCH /v1/assignment-rules/{id} (admin) */
int
api_assignment_rules_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_assignment_rules_update($1, $2, $3, $4)", ctx->body,
	    200, API_RESP_ETAG));
}

/* DELETE /v1/assignment-rules/{id} (admin): 204. */
int
api_assignment_rules_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx,
	    "SELECT api_assignment_rules_delete($1, $2)", 204, API_RESP_EMPTY));
}

/*
 * POST /v1/lead-forms (admin). The form key is made here: random, shown
 * in this answer only; the database keeps its SHA-256 and prefix.
 */
int
api_lead_forms_create(struct http_request *req, struct api_ctx *ctx)
{
	char key[128], hash[65], prefix[16], location[128];
	json_t *doc;
	char *body;
	int r;

	if (ctx->db == NULL) {
		if (!crm_token_random(key, sizeof(key), FORM_KEY_PREFIX))
			return (api_respond_error(req, ctx, CRM_ERR_INTERNAL,
			    NULL));
		crm_sha256_hex(key, strlen(key), hash);
		(void)snprintf(prefix, sizeof(prefix), "%.12s", key);
		ctx->work = kore_calloc(1, sizeof(*ctx->work));
		(void)kore_strlcpy(ctx->work->encoded, key,
		    sizeof(ctx->work->encoded));
		explicit_bzero(key, sizeof(key));
		api_db(req, ctx,
		    "SELECT api_lead_forms_create($1, $2, $3, $4)");
		(void)api_db_param_json(ctx, ctx->body);
		(void)api_db_param(ctx, prefix);
		(void)api_db_param(ctx, hash);
	}

	if ((r = db_object(req, ctx, &doc)) <= 0) {
		if (r < 0)
			explicit_bzero(ctx->work->encoded,
			    sizeof(ctx->work->encoded));
		return (r == 0 ? KORE_RESULT_RETRY : KORE_RESULT_OK);
	}

	json_object_set_new(doc, "form_key", json_string(ctx->work->encoded));
	explicit_bzero(ctx->work->encoded, sizeof(ctx->work->encoded));
	(void)snprintf(location, sizeof(location), "%s/%s", req->path,
	    json_string_value(json_object_get(doc, "id")));
	body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (body == NULL)
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
	http_response_header(req, "location", location);
	r = api_respond_json(req, ctx, 201, body, strlen(body));
	explicit_bzero(body, strlen(body));
	free(body);

	return (r);
}

/* GET /v1/lead-forms (admin): prefixes only, never keys. */
int
api_lead_forms_list(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL)
		api_db(req, ctx, "SELECT api_lead_forms_list($1)");

	return (api_db_respond(req, ctx, 200, API_RESP_PLAIN));
}

/* DELETE /v1/lead-forms/{id} (admin): revoke, 204. */
int
api_lead_forms_revoke(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_lead_forms_revoke($1, $2)",
	    204, API_RESP_EMPTY));
}

/*
 * POST /v1/forms/{form_key}/leads: public (no caller). The key travels to
 * the database only as its SHA-256; an unknown or revoked key is 404, a
 * form over its limit 429 with Retry-After, a new lead 201 {id, status}.
 */
int
api_lead_forms_submit(struct http_request *req, struct api_ctx *ctx)
{
	struct crm_error err;
	char hash[65];
	json_t *doc, *wait;
	int r;

	if (ctx->db == NULL) {
		crm_sha256_hex(ctx->params.value[0],
		    strlen(ctx->params.value[0]), hash);
		api_db(req, ctx,
		    "SELECT api_lead_forms_submit($1, $2, $3, $4)");
		(void)api_db_param(ctx, hash);
		(void)api_db_param_json(ctx, ctx->body);
		(void)api_db_param(ctx, ctx->request_id);
		(void)api_db_param(ctx, ctx->ip);
	}

	if ((r = db_object(req, ctx, &doc)) <= 0)
		return (r == 0 ? KORE_RESULT_RETRY : KORE_RESULT_OK);

	if ((wait = json_object_get(doc, "retry_after")) != NULL) {
		crm_error_init(&err);
		crm_error_set(&err, CRM_ERR_RATE_LIMITED,
		    "This form takes only so many leads a minute; try again "
		    "later.");
		err.retry_after = (int)json_integer_value(wait);
		r = api_respond_problem(req, ctx, &err);
		crm_error_cleanup(&err);
	} else {
		r = respond_doc(req, ctx, 201, doc);
	}
	json_decref(doc);

	return (r);
}

/*
 * Check the conversion's `opportunity` object against its field list (the
 * route table checks the body's first level only). Answers 422 itself,
 * every problem listed as opportunity.<field>, and returns 0 when it is
 * invalid.
 */
static int
opportunity_valid(struct http_request *req, struct api_ctx *ctx)
{
	struct crm_error err;
	json_t *o, *e;
	char field[64];
	size_t i;
	int ok;

	if ((o = json_object_get(ctx->body, "opportunity")) == NULL)
		return (1);

	crm_error_init(&err);
	ok = crm_validate_object(o, api_lead_opportunity_fields, 0, &err);
	if (!ok) {
		json_array_foreach(err.errors, i, e)
		{
			(void)snprintf(field, sizeof(field), "opportunity.%s",
			    json_string_value(json_object_get(e, "field")));
			json_object_set_new(e, "field", json_string(field));
		}
		api_respond_problem(req, ctx, &err);
	}
	crm_error_cleanup(&err);

	return (ok);
}

/*
 * Run the request's statement to its end and parse its answer into *out
 * (a new reference the caller releases). Returns 0 while the statement
 * waits, -1 after answering itself (a problem; 404 for no answer), 1 with
 * *out set.
 */
static int
db_object(struct http_request *req, struct api_ctx *ctx, json_t **out)
{
	const struct crm_error *err;
	const char *value;
	size_t len;

	*out = NULL;
	if (crm_db_run(ctx->db) == CRM_DB_PENDING)
		return (0);

	err = crm_db_error(ctx->db);
	if (err->kind != CRM_ERR_NONE) {
		if (err->kind >= CRM_ERR_INTERNAL || err->sqlstate[0] != 'C')
			kore_log(LOG_WARNING, "request %s: %s: %s",
			    ctx->request_id,
			    err->sqlstate[0] != '\0' ? err->sqlstate
						     : "connection",
			    crm_db_detail(ctx->db));
		api_respond_problem(req, ctx, err);
		return (-1);
	}
	if ((value = crm_db_value(ctx->db, &len)) == NULL) {
		api_respond_error(req, ctx, CRM_ERR_NOT_FOUND,
		    "The resource does not exist.");
		return (-1);
	}
	if ((*out = json_loadb(value, len, 0, NULL)) == NULL) {
		api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL);
		return (-1);
	}

	return (1);
}

/* Answer `doc` (borrowed) as JSON with `status`. */
static int
respond_doc(struct http_request *req, struct api_ctx *ctx, int status,
    json_t *doc)
{
	char *body;
	int r;

	if ((body = json_dumps(doc, JSON_COMPACT)) == NULL)
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
	r = api_respond_json(req, ctx, status, body, strlen(body));
	free(body);

	return (r);
}
