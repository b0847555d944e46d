/*
 * Opportunities (R21, R22): create, read, merge-patch update with
 * If-Match, soft delete, win / lose / reopen, the stage history, the list
 * with filters, sorts and cursors, and the funnel. Each handler runs one
 * api_* function of sql/0011_api_opportunities.sql; row-level security
 * decides who sees what.
 */
#include "api.h"

/* POST /v1/opportunities */
int
api_opportunities_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_opportunities_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/opportunities */
int
api_opportunities_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_opportunities_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* GET /v1/opportunities/funnel */
int
api_opportunities_funnel(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_opportunities_funnel($1, $2)",
	    ctx->query, 200, API_RESP_CSV));
}

/* GET /v1/opportunities/{id} */
int
api_opportunities_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_opportunities_get($1, $2)",
	    200, API_RESP_ETAG));
}

/* PATCH /v1/opportunities/{id} */
int
api_opportunities_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_opportunities_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* DELETE /v1/opportunities/{id}: soft delete, 204. */
int
api_opportunities_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_opportunities_delete($1, $2, $3)", NULL, 204,
	    API_RESP_EMPTY));
}

/* POST /v1/opportunities/{id}/win {reason}, If-Match */
int
api_opportunities_win(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_opportunities_win($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* POST /v1/opportunities/{id}/lose {reason}, If-Match */
int
api_opportunities_lose(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_opportunities_lose($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* POST /v1/opportunities/{id}/reopen {stage_id}, If-Match */
int
api_opportunities_reopen(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_opportunities_reopen($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* GET /v1/opportunities/{id}/history */
int
api_opportunities_history(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx,
	    "SELECT api_opportunities_history($1, $2)", 200, API_RESP_PLAIN));
}
