/*
 * Pipelines and their stages (R21): everyone reads them, admins configure
 * them (a person's token, never an API key). Each handler runs one api_*
 * function of sql/0011_api_opportunities.sql, which also enforces the
 * stage rules and the admin role.
 */
#include "api.h"

/* GET /v1/pipelines */
int
api_pipelines_list(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL)
		api_db(req, ctx, "SELECT api_pipelines_list($1)");

	return (api_db_respond(req, ctx, 200, API_RESP_PLAIN));
}

/* POST /v1/pipelines {name, is_default, stages} */
int
api_pipelines_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_pipelines_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/pipelines/{id} */
int
api_pipelines_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_pipelines_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* PATCH /v1/pipelines/{id} {name, is_default, active}, If-Match */
int
api_pipelines_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_pipelines_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* POST /v1/pipelines/{id}/stages: Location names the new stage. */
int
api_pipeline_stages_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_pipeline_stages_create($1, $2, $3)", ctx->body, 201,
	    API_RESP_LOCATION));
}

/* PATCH /v1/pipelines/{id}/stages/{stage_id} */
int
api_pipeline_stages_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_pipeline_stages_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_PLAIN));
}

/* DELETE /v1/pipelines/{id}/stages/{stage_id}: 204. */
int
api_pipeline_stages_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_pipeline_stages_delete($1, $2, $3)", NULL, 204,
	    API_RESP_EMPTY));
}
