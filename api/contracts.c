/*
 * Contracts and their approval (R26): templates with placeholders (admins
 * keep them), contracts from draft through the manager's approval to
 * signature (which wins the linked opportunity) and fulfilment, and the
 * history of every status. Each handler runs one api_* function of
 * sql/0014_quotes_contracts.sql; the actions take an optional If-Match.
 */
#include "api.h"

/* GET /v1/contract-templates */
int
api_contract_templates_list(struct http_request *req, struct api_ctx *ctx)
{
	return (
	    api_db_with(req, ctx, "SELECT api_contract_templates_list($1, $2)",
		ctx->query, 200, API_RESP_PLAIN));
}

/* POST /v1/contract-templates */
int
api_contract_templates_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx,
	    "SELECT api_contract_templates_create($1, $2)", ctx->body, 201,
	    API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/contract-templates/{id} */
int
api_contract_templates_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx,
	    "SELECT api_contract_templates_get($1, $2)", 200, API_RESP_ETAG));
}

/* PATCH /v1/contract-templates/{id} */
int
api_contract_templates_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_contract_templates_update($1, $2, $3, $4)", ctx->body,
	    200, API_RESP_ETAG));
}

/* DELETE /v1/contract-templates/{id}: soft delete, 204. */
int
api_contract_templates_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_contract_templates_delete($1, $2, $3)", NULL, 204,
	    API_RESP_EMPTY));
}

/* GET /v1/contracts */
int
api_contracts_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_contracts_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* POST /v1/contracts */
int
api_contracts_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_contracts_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/contracts/{id} */
int
api_contracts_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_contracts_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* PATCH /v1/contracts/{id}: drafts and rejected contracts only. */
int
api_contracts_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_contracts_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* POST /v1/contracts/{id}/submit: to pending_approval. */
int
api_contracts_submit(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_contracts_move($1, $2, 'pending_approval', $3)", NULL,
	    200, API_RESP_ETAG));
}

/* POST /v1/contracts/{id}/approve: the owner's managers or an admin. */
int
api_contracts_approve(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_contracts_decide($1, $2, 'approved', '{}', $3)", NULL,
	    200, API_RESP_ETAG));
}

/* POST /v1/contracts/{id}/reject {reason}: as approve. */
int
api_contracts_reject(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_contracts_decide($1, $2, 'rejected', $3, $4)",
	    ctx->body, 200, API_RESP_ETAG));
}

/* POST /v1/contracts/{id}/sign {signed_at?}: wins the opportunity. */
int
api_contracts_sign(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_contracts_sign($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* POST /v1/contracts/{id}/fulfil */
int
api_contracts_fulfil(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_contracts_move($1, $2, 'fulfilled', $3)", NULL, 200,
	    API_RESP_ETAG));
}

/* POST /v1/contracts/{id}/cancel */
int
api_contracts_cancel(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_contracts_move($1, $2, 'cancelled', $3)", NULL, 200,
	    API_RESP_ETAG));
}

/* GET /v1/contracts/{id}/events */
int
api_contracts_events(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_contracts_events($1, $2)",
	    200, API_RESP_PLAIN));
}
