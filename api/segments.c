/*
 * Rich search, saved segments and custom fields (R12, R15, R18): the
 * filter tree is compiled into SQL by the database itself (fields from a
 * fixed list, values as quoted literals); segments store such a tree and
 * list its members among the customers the caller can see.
 */
#include "api.h"

/* POST /v1/customers/search {filter, q, sort, limit, cursor, count} */
int
api_customers_search(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_customers_search($1, $2)",
	    ctx->body, 200, API_RESP_PLAIN));
}

/* GET /v1/segments */
int
api_segments_list(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL)
		api_db(req, ctx, "SELECT api_segments_list($1)");

	return (api_db_respond(req, ctx, 200, API_RESP_PLAIN));
}

/* POST /v1/segments {name, filter} */
int
api_segments_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_segments_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/segments/{id} */
int
api_segments_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_segments_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* DELETE /v1/segments/{id} */
int
api_segments_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_segments_delete($1, $2)",
	    204, API_RESP_EMPTY));
}

/* GET /v1/segments/{id}/members */
int
api_segments_members(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_segments_members($1, $2, $3)", ctx->query, 200,
	    API_RESP_PLAIN));
}

/* GET /v1/custom-fields */
int
api_custom_fields_list(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL)
		api_db(req, ctx, "SELECT api_custom_fields_list($1)");

	return (api_db_respond(req, ctx, 200, API_RESP_PLAIN));
}

/* POST /v1/custom-fields (admin) */
int
api_custom_fields_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_custom_fields_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* DELETE /v1/custom-fields/{id} (admin) */
int
api_custom_fields_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx,
	    "SELECT api_custom_fields_delete($1, $2)", 204, API_RESP_EMPTY));
}
