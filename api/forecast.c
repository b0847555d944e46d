/*
 * The pipeline forecast and quotas (R28): each handler runs one api_*
 * function of sql/0020_forecast.sql, which sums the rollup the database
 * keeps, under the caller's row-level security. Reports answer CSV too
 * (Accept: text/csv).
 */
#include "api.h"

/* GET /v1/forecast?period=&group_by=&pipeline_id=&as_of= */
int
api_forecast_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_forecast($1, $2)", ctx->query,
	    200, API_RESP_CSV));
}

/* GET /v1/forecast/trend?period=&owner_id=&from=&to= */
int
api_forecast_trend(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_forecast_trend($1, $2)",
	    ctx->query, 200, API_RESP_CSV));
}

/* GET /v1/forecast/slippage?period=&since= */
int
api_forecast_slippage(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_forecast_slippage($1, $2)",
	    ctx->query, 200, API_RESP_CSV));
}

/* POST /v1/forecast/snapshots: today's snapshot, idempotent per day. */
int
api_forecast_snapshot(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL)
		api_db(req, ctx, "SELECT api_forecast_snapshot($1)");

	return (api_db_respond(req, ctx, 200, API_RESP_PLAIN));
}

/* GET /v1/quotas */
int
api_quotas_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_quotas_list($1, $2)",
	    ctx->query, 200, API_RESP_CSV));
}

/* POST /v1/quotas */
int
api_quotas_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_quotas_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/quotas/{id} */
int
api_quotas_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_quotas_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* PATCH /v1/quotas/{id} */
int
api_quotas_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_quotas_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* DELETE /v1/quotas/{id} */
int
api_quotas_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_quotas_delete($1, $2)", 204,
	    API_RESP_EMPTY));
}
