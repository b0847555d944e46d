/*
 * Outbound events (R61): the event feed. The handler runs one api_*
 * function of sql/0031_events_webhooks.sql.
 */
#include "api.h"

/* GET /v1/events */
int
api_events_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_events_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}
