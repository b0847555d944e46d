/*
 * Leads (R20): capture, the status machine (new -> working -> mql -> sql
 * -> converted | disqualified) and its history, and the configuration an
 * admin keeps for them: scoring rules, grade thresholds and assignment
 * rules (one owner or a round-robin rotation). Each handler runs one
 * api_* function of sql/0012_api_leads.sql; row-level security decides
 * who sees what, the database checks every status change and keeps every
 * score.
 */
#include "api.h"

static int by_id_with_body(struct http_request *, struct api_ctx *,
    const char *, int, int);

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
	return (by_id_with_body(req, ctx,
	    "SELECT api_leads_qualify($1, $2, $3)", 200, API_RESP_ETAG));
}

/* POST /v1/leads/{id}/disqualify {reason} */
int
api_leads_disqualify(struct http_request *req, struct api_ctx *ctx)
{
	return (by_id_with_body(req, ctx,
	    "SELECT api_leads_disqualify($1, $2, $3)", 200, API_RESP_ETAG));
}

/* POST /v1/leads/{id}/assign {owner_id?} */
int
api_leads_assign(struct http_request *req, struct api_ctx *ctx)
{
	return (by_id_with_body(req, ctx, "SELECT api_leads_assign($1, $2, $3)",
	    200, API_RESP_ETAG));
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
 * The whole handler of an action on one record: the statement takes the
 * caller, the path's id and the JSON body ($1, $2, $3). 404 for an id
 * that is not a UUID.
 */
static int
by_id_with_body(struct http_request *req, struct api_ctx *ctx, const char *sql,
    int status, int flags)
{
	if (ctx->db == NULL) {
		if (!api_path_id(req, ctx))
			return (KORE_RESULT_OK);
		api_db(req, ctx, sql);
		(void)api_db_param(ctx, ctx->params.value[0]);
		(void)api_db_param_json(ctx, ctx->body);
	}

	return (api_db_respond(req, ctx, status, flags));
}
