/*
 * Activities, the sales daily log (R23): calls, emails, meetings, visits
 * and notes linked to a customer, contact, opportunity or lead, and one
 * person's log of a day. Each handler runs one api_* function of
 * sql/0013_activities_tasks.sql; row-level security decides who sees what.
 */
#include "api.h"

/* POST /v1/activities */
int
api_activities_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_activities_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/activities */
int
api_activities_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_activities_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* GET /v1/activities/daily-log?date=&owner_id= */
int
api_activities_daily_log(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_activities_daily_log($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* GET /v1/activities/{id} */
int
api_activities_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_activities_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* PATCH /v1/activities/{id}: merge patch, If-Match. */
int
api_activities_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_activities_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* DELETE /v1/activities/{id}: soft delete, If-Match, 204. */
int
api_activities_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_activities_delete($1, $2, $3)", NULL, 204,
	    API_RESP_EMPTY));
}
