/*
 * Customers (R10-R15): create, read, merge-patch update with If-Match,
 * soft delete and restore, the lifecycle history, and the list with
 * filters, sorts, cursors, counts and search. Each handler runs one api_*
 * function of sql/0006_api_customers.sql; row-level security decides who
 * sees what.
 */
#include "api.h"

/* POST /v1/customers */
int
api_customers_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_customers_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/customers/{id} */
int
api_customers_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_customers_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* PATCH /v1/customers/{id} */
int
api_customers_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_customers_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* DELETE /v1/customers/{id}: soft delete, 204. */
int
api_customers_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_customers_delete($1, $2, $3)", NULL, 204,
	    API_RESP_EMPTY));
}

/* POST /v1/customers/{id}/restore */
int
api_customers_restore(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_customers_restore($1, $2)",
	    200, API_RESP_ETAG));
}

/* GET /v1/customers/{id}/lifecycle */
int
api_customers_lifecycle(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_customers_lifecycle($1, $2)",
	    200, API_RESP_PLAIN));
}

/* GET /v1/customers */
int
api_customers_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_customers_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* GET /v1/customers/{id}/overview: the 360° view in one statement. */
int
api_customers_overview(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_customers_overview($1, $2)",
	    200, API_RESP_PLAIN));
}

/* GET /v1/customers/{id}/graph */
int
api_customers_graph(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_customers_graph($1, $2, $3)", ctx->query, 200,
	    API_RESP_PLAIN));
}

/* GET /v1/customers/{id}/duplicates */
int
api_customers_duplicates(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx,
	    "SELECT api_customers_duplicates($1, $2)", 200, API_RESP_PLAIN));
}

/* POST /v1/customers/merge {survivor_id, merged_ids} */
int
api_customers_merge(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_customers_merge($1, $2)",
	    ctx->body, 200, API_RESP_ETAG));
}
