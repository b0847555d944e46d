/*
 * The product catalogue (R25): everyone in the organisation reads it, the
 * org-wide roles (admin, executive, integration) maintain it; a product is
 * retired with active=false, never deleted. Each handler runs one api_*
 * function of sql/0014_quotes_contracts.sql.
 */
#include "api.h"

/* GET /v1/products */
int
api_products_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_products_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* POST /v1/products */
int
api_products_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_products_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/products/{id} */
int
api_products_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_products_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* PATCH /v1/products/{id} */
int
api_products_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_products_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}
