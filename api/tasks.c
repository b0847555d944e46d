/*
 * Tasks and the caller's agenda (R24): work assigned to people, with a
 * status machine, transfers between people and their history, and the
 * agenda of overdue work, what is due soon and reminders. Each handler
 * runs one api_* function of sql/0013_activities_tasks.sql; row-level
 * security decides who sees what.
 */
#include "api.h"

/* POST /v1/tasks */
int
api_tasks_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_tasks_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/tasks */
int
api_tasks_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_tasks_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* GET /v1/tasks/{id} */
int
api_tasks_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_tasks_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* PATCH /v1/tasks/{id}: merge patch (status changes too), If-Match. */
int
api_tasks_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_tasks_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* DELETE /v1/tasks/{id}: soft delete, If-Match, 204. */
int
api_tasks_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_tasks_delete($1, $2, $3)", NULL, 204, API_RESP_EMPTY));
}

/* POST /v1/tasks/{id}/transfer {assignee_id, note} */
int
api_tasks_transfer(struct http_request *req, struct api_ctx *ctx)
{
	return (
	    api_db_by_id_with(req, ctx, "SELECT api_tasks_transfer($1, $2, $3)",
		ctx->body, 200, API_RESP_ETAG));
}

/* GET /v1/tasks/{id}/transfers */
int
api_tasks_transfers(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_tasks_transfers($1, $2)",
	    200, API_RESP_PLAIN));
}

/* GET /v1/me/agenda?days= */
int
api_me_agenda(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_me_agenda($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}
