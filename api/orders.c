/*
 * Orders, payments, subscriptions and deliveries (R27; 002: 期刊征订,
 * 发刊管理). Each handler runs one api_* function of
 * sql/0015_orders_subscriptions.sql; row-level security decides who sees
 * what, and the database computes every total.
 */
#include "api.h"

static int transition(struct http_request *, struct api_ctx *, const char *);

/* Move the order in the path to status `to` (with the body's reason). */
static int
transition(struct http_request *req, struct api_ctx *ctx, const char *to)
{
	if (ctx->db == NULL) {
		if (!api_path_id(req, ctx))
			return (KORE_RESULT_OK);
		api_db(req, ctx,
		    "SELECT api_orders_transition($1, $2, $3, $4)");
		(void)api_db_param(ctx, ctx->params.value[0]);
		(void)api_db_param(ctx, to);
		(void)api_db_param_json(ctx, ctx->body);
	}

	return (api_db_respond(req, ctx, 200, API_RESP_ETAG));
}

/* GET /v1/orders */
int
api_orders_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_orders_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* POST /v1/orders: the order, its lines and subscriptions, 201. */
int
api_orders_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_orders_create($1, $2)",
	    ctx->body, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/orders/{id} */
int
api_orders_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_orders_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* PATCH /v1/orders/{id} */
int
api_orders_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_orders_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* POST /v1/orders/{id}/confirm */
int
api_orders_confirm(struct http_request *req, struct api_ctx *ctx)
{
	return (transition(req, ctx, "confirmed"));
}

/* POST /v1/orders/{id}/fulfil */
int
api_orders_fulfil(struct http_request *req, struct api_ctx *ctx)
{
	return (transition(req, ctx, "fulfilled"));
}

/* POST /v1/orders/{id}/cancel {reason} */
int
api_orders_cancel(struct http_request *req, struct api_ctx *ctx)
{
	return (transition(req, ctx, "cancelled"));
}

/* POST /v1/orders/{id}/payments, 201. */
int
api_order_payments_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_order_payments_create($1, $2, $3)", ctx->body, 201,
	    API_RESP_PLAIN));
}

/* GET /v1/orders/{id}/payments */
int
api_order_payments_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_order_payments_list($1, $2)",
	    200, API_RESP_PLAIN));
}

/* GET /v1/subscriptions */
int
api_subscriptions_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_subscriptions_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* GET /v1/subscriptions/renewals: the renewal campaign list. */
int
api_subscriptions_renewals(struct http_request *req, struct api_ctx *ctx)
{
	return (
	    api_db_with(req, ctx, "SELECT api_subscriptions_renewals($1, $2)",
		ctx->query, 200, API_RESP_PLAIN));
}

/* GET /v1/subscriptions/{id} */
int
api_subscriptions_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_subscriptions_get($1, $2)",
	    200, API_RESP_ETAG));
}

/* PATCH /v1/subscriptions/{id} */
int
api_subscriptions_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_subscriptions_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* POST /v1/subscriptions/{id}/cancel */
int
api_subscriptions_cancel(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx,
	    "SELECT api_subscriptions_cancel($1, $2)", 200, API_RESP_ETAG));
}

/*
 * POST /v1/subscriptions/{id}/renew {periods}: 201 with the new
 * subscription, whose Location is under /v1/subscriptions.
 */
int
api_subscriptions_renew(struct http_request *req, struct api_ctx *ctx)
{
	ctx->location = "/v1/subscriptions";
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_subscriptions_renew($1, $2, $3)", ctx->body, 201,
	    API_RESP_LOCATION | API_RESP_ETAG));
}

/* POST /v1/subscriptions/{id}/deliveries, 201. */
int
api_deliveries_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_deliveries_create($1, $2, $3)", ctx->body, 201,
	    API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/subscriptions/{id}/deliveries */
int
api_deliveries_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_deliveries_list($1, $2)",
	    200, API_RESP_PLAIN));
}

/* PATCH /v1/subscriptions/{id}/deliveries/{delivery_id} */
int
api_deliveries_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_deliveries_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}
