/*
 * The HTTP surface: the per-request context every handler receives, the
 * route table, and the response helpers. Everything Kore-specific about a
 * request lives in api/ (and src/db.c); the core in src/ does not see it.
 */
#ifndef CRM_API_H
#define CRM_API_H

#include <sys/types.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "crm/config.h"
#include "crm/db.h"
#include "crm/error.h"
#include "crm/route.h"
#include "crm/util.h"

#define API_BODY_NONE 0x00 /* no request body is read */
#define API_BODY_JSON 0x01 /* a JSON object, at most json_body_max */

struct api_ctx;

typedef int (*api_handler)(struct http_request *, struct api_ctx *);

struct api_route {
	int method; /* HTTP_METHOD_* */
	const char *pattern; /* "/v1/customers/{id}" */
	const char *operation; /* the OpenAPI operationId */
	int body; /* API_BODY_* */
	api_handler handler;
};

struct api_ctx {
	char request_id[CRM_REQUEST_ID_MAX + 1];
	const struct api_route *route;
	struct crm_route_params params;
	struct crm_db *db;
	u_int64_t start_ms;
	int status;
};

extern const struct api_route api_routes[];
extern const size_t api_routes_count;
extern struct crm_config api_config;

/* router.c */
int crm_dispatch(struct http_request *);
int api_respond_json(struct http_request *, struct api_ctx *, int, const char *,
    size_t);
int api_respond_problem(struct http_request *, struct api_ctx *,
    const struct crm_error *);
int api_respond_error(struct http_request *, struct api_ctx *,
    enum crm_error_kind, const char *);
int api_db_respond(struct http_request *, struct api_ctx *, int);

/* health.c */
int api_health_live(struct http_request *, struct api_ctx *);
int api_health_ready(struct http_request *, struct api_ctx *);
int api_openapi_get(struct http_request *, struct api_ctx *);

/* the embedded spec (generated from openapi/openapi.yaml) */
extern const char crm_openapi_json[];
extern const size_t crm_openapi_json_len;

#endif
