/*
 * The route table: every operation of the API, in the order it is matched.
 * tests/api/test_openapi.py checks that this table and openapi/openapi.yaml
 * list the same operations (GET /v1/openapi.json is served from the spec,
 * and the test reads this file's rows).
 */
#include "api.h"

const struct api_route api_routes[] = {
    {HTTP_METHOD_GET, "/healthz", "getHealth", API_BODY_NONE, api_health_live},
    {HTTP_METHOD_GET, "/readyz", "getReadiness", API_BODY_NONE,
	api_health_ready},
    {HTTP_METHOD_GET, "/v1/openapi.json", "getOpenApi", API_BODY_NONE,
	api_openapi_get},
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
