/*
 * Pipelines and their stages (R21): everyone reads them, admins configure
 * them (a person's token, never an API key). Each handler runs one api_*
 * function of sql/0011_api_opportunities.sql, which also enforces the
 * stage rules and the admin role.
 */
#include "api.h"

static int
stage_route(struct http_request *, struct api_ctx *, const char *, int, int);

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
	if (ctx->db == NULL) {
		if (!api_path_id(req, ctx))
			return (KORE_RESULT_OK);
		api_db(req, ctx,
		    "SELECT api_pipeline_stages_create($1, $2, $3)");
		(void)api_db_param(ctx, ctx->params.value[0]);
		(void)api_db_param_json(ctx, ctx->body);
	}

	return (api_db_respond(req, ctx, 201, API_RESP_LOCATION));
}

/* PATCH /v1/pipelines/{id}/stages/{stage_id} */
int
api_pipeline_stages_update(struct http_request *req, struct api_ctx *ctx)
{
	return (stage_route(req, ctx,
	    "SELECT api_pipeline_stages_update($1, $2, $3, $4)", 200,
	    API_RESP_PLAIN));
}

/* DELETE /v1/pipelines/{id}/stages/{stage_id}: 204. */
int
api_pipeline_stages_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (stage_route(req, ctx,
	    "SELECT api_pipeline_stages_delete($1, $2, $3)", 204,
	    API_RESP_EMPTY));
}

/*
 * The body of the routes on one stage: the statement `sql` takes the
 * caller, the pipeline id, the stage id and, when the route has one, the
 * JSON body. Either id not a UUID is a 404 without asking the database.
 */
static int
stage_route(struct http_request *req, struct api_ctx *ctx, const char *sql,
    int status, int flags)
{
	if (ctx->db == NULL) {
		if (!crm_uuid_valid(ctx->params.value[0]) ||
		    !crm_uuid_valid(ctx->params.value[1]))
			return (api_respond_error(req, ctx, CRM_ERR_NOT_FOUND,
			    "The resource does not exist."));
		api_db(req, ctx, sql);
		(void)api_db_param(ctx, ctx->params.value[0]);
		(void)api_db_param(ctx, ctx->params.value[1]);
		if (ctx->body != NULL)
			(void)api_db_param_json(ctx, ctx->body);
	}

	return (api_db_respond(req, ctx, status, flags));
}
