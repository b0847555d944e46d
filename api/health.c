/*
 * Probes and the contract: GET /healthz (the process answers), GET /readyz
 * (it can reach its database and the schema is migrated), and
 * GET /v1/openapi.json (the OpenAPI document compiled in from openapi/).
 */
#include "api.h"

/*
 * Ready means one round trip to PostgreSQL through the same pool the API
 * uses, as the same role, reading the applied schema version.
 */
static const char SQL_READY[] =
    "SELECT json_build_object("
    "'status', 'ready', "
    "'database', 'ok', "
    "'schema_version', (SELECT max(version) FROM schema_migrations)"
    ")::text";

/* GET /healthz: liveness only; touches nothing that can be down. */
int
api_health_live(struct http_request *req, struct api_ctx *ctx)
{
	static const char body[] = "{\"status\":\"ok\"}";

	return (api_respond_json(req, ctx, 200, body, sizeof(body) - 1));
}

/* GET /readyz: 200 when the database answers, 503 problem otherwise. */
int
api_health_ready(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL)
		api_db(req, ctx, SQL_READY);

	return (api_db_respond(req, ctx, 200, API_RESP_PLAIN));
}

/* GET /v1/openapi.json: the contract, exactly as in openapi/. */
int
api_openapi_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_respond_json(req, ctx, 200, crm_openapi_json,
	    crm_openapi_json_len));
}
