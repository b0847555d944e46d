/*
 * Server configuration, read once from the environment with development
 * defaults; production refuses defaults that would be unsafe.
 */
#ifndef CRM_CONFIG_H
#define CRM_CONFIG_H

#include <stddef.h>

#include "crm/error.h"

#define CRM_DEV_JWT_SECRET "dev-only-insecure-jwt-secret-change-me-0123456789"
#define CRM_JWT_SECRET_MIN 32
#define CRM_JWT_ISSUER "crm-api"
#define CRM_JWT_AUDIENCE "crm-api"
#define CRM_DEFAULT_DB_URL "host=127.0.0.1 port=5433 dbname=crm user=crm_app"

struct crm_config {
	int production;
	char database_url[1024];
	char jwt_secret[512];
	int jwt_ttl; /* access token lifetime, seconds */
	int db_pool; /* connections opened per worker */
	size_t json_body_max; /* bytes accepted on JSON routes */
	size_t import_body_max; /* bytes accepted by bulk imports */
	int trust_proxy; /* X-Real-IP from any peer (behind a proxy) */
	int demo; /* demo mode: demo data is loaded */
	long rate_limit_key; /* requests per window per API key, 0: none */
	long rate_limit_user; /* per person (access token), 0: none */
	long rate_limit_window; /* seconds */
};

typedef const char *(*crm_getenv_fn)(const char *);

int crm_config_load(struct crm_config *, crm_getenv_fn,
    struct crm_error *) CRM_MUSTCHECK;

#endif
