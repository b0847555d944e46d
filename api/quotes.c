/*
 * Quotes built from catalogue lines (R25): drafts are edited, sent,
 * rejected or accepted (which writes the contract in the same
 * transaction), and revised into a new draft of the same number. Each
 * handler runs one api_* function of sql/0014_quotes_contracts.sql; the
 * actions take an optional If-Match like PATCH does.
 */
#include "api.h"

/* GET /v1/quotes */
int
api_quotes_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_quotes_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* POST /v1/quotes */
int
api_quotes_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_quotes_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/quotes/{id} */
int
api_quotes_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_quotes_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* PATCH /v1/quotes/{id}: drafts only. */
int
api_quotes_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_quotes_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* POST /v1/quotes/{id}/send */
int
api_quotes_send(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx, "SELECT api_quotes_send($1, $2, $3)",
	    NULL, 200, API_RESP_ETAG));
}

/* POST /v1/quotes/{id}/revise: 201 with the new revision's Location. */
int
api_quotes_revise(struct http_request *req, struct api_ctx *ctx)
{
	ctx->location = "/v1/quotes";
	return (
	    api_db_versioned(req, ctx, "SELECT api_quotes_revise($1, $2, $3)",
		NULL, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* POST /v1/quotes/{id}/reject {reason?} */
int
api_quotes_reject(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_quotes_reject($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* POST /v1/quotes/{id}/accept: {quote, contract_id}. */
int
api_quotes_accept(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_quotes_accept($1, $2, $3)", NULL, 200, API_RESP_PLAIN));
}
