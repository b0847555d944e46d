/*
 * Configuration from the environment. Development gets working defaults so
 * the server runs with no setup; production (CRM_ENV=production) must be
 * given a real JWT secret and refuses to start with the development one.
 *
 *   CRM_ENV            development (default) | production
 *   CRM_DATABASE_URL   libpq connection string or URI
 *   CRM_JWT_SECRET     HS256 secret, at least 32 bytes
 *   CRM_JWT_TTL        access token lifetime in seconds (900)
 *   CRM_DB_POOL        connections opened per worker at start (1-64)
 *   CRM_JSON_BODY_MAX  largest JSON request body in bytes
 *   CRM_IMPORT_BODY_MAX  largest bulk import body in bytes (1 GiB); nginx
 *                      and Kore get the same limit (.dev/lib.sh renders it)
 *   CRM_TRUST_PROXY    1: take the client address from X-Real-IP whatever
 *                      the peer (Kore reachable only through the proxy);
 *                      otherwise only from a loopback peer
 *   CRM_DEMO           1 when demo data is loaded (prints demo logins)
 *   CRM_RATE_LIMIT_KEY  requests per window per API key (1200; 0: off)
 *   CRM_RATE_LIMIT_USER requests per window per person's token (600; 0: off)
 *   CRM_RATE_LIMIT_WINDOW the window in seconds (60)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/config.h"

static int
copy_value(char *, size_t, const char *, const char *, struct crm_error *);
static int parse_long(const char *, const char *, long, long, long, long *,
    struct crm_error *);

/*
 * Fill `cfg` from `get` (getenv in the server, a table in tests). Returns
 * CRM_ERROR with the offending variable named in `err` when a value is
 * invalid or unsafe for production.
 */
int
crm_config_load(struct crm_config *cfg, crm_getenv_fn get,
    struct crm_error *err)
{
	const char *v;
	long n;

	memset(cfg, 0, sizeof(*cfg));

	v = get("CRM_ENV");
	if (v == NULL || *v == '\0' || !strcmp(v, "development")) {
		cfg->production = 0;
	} else if (!strcmp(v, "production")) {
		cfg->production = 1;
	} else {
		return (crm_error_set(err, CRM_ERR_VALIDATION,
		    "CRM_ENV must be development or production"));
	}

	v = get("CRM_DATABASE_URL");
	if (!copy_value(cfg->database_url, sizeof(cfg->database_url),
		"CRM_DATABASE_URL",
		v != NULL && *v != '\0' ? v : CRM_DEFAULT_DB_URL, err))
		return (CRM_ERROR);

	v = get("CRM_JWT_SECRET");
	if (v == NULL || *v == '\0') {
		if (cfg->production)
			return (crm_error_set(err, CRM_ERR_VALIDATION,
			    "CRM_JWT_SECRET must be set in production"));
		v = CRM_DEV_JWT_SECRET;
	}
	if (cfg->production && !strcmp(v, CRM_DEV_JWT_SECRET))
		return (crm_error_set(err, CRM_ERR_VALIDATION,
		    "CRM_JWT_SECRET is the development default; "
		    "production needs its own secret"));
	if (strlen(v) < CRM_JWT_SECRET_MIN)
		return (crm_error_set(err, CRM_ERR_VALIDATION,
		    "CRM_JWT_SECRET must be at least %d bytes",
		    CRM_JWT_SECRET_MIN));
	if (!copy_value(cfg->jwt_secret, sizeof(cfg->jwt_secret),
		"CRM_JWT_SECRET", v, err))
		return (CRM_ERROR);

	if (!parse_long("CRM_JWT_TTL", get("CRM_JWT_TTL"), 900, 60, 86400, &n,
		err))
		return (CRM_ERROR);
	cfg->jwt_ttl = (int)n;

	if (!parse_long("CRM_DB_POOL", get("CRM_DB_POOL"), 8, 1, 64, &n, err))
		return (CRM_ERROR);
	cfg->db_pool = (int)n;

	if (!parse_long("CRM_JSON_BODY_MAX", get("CRM_JSON_BODY_MAX"),
		1024 * 1024, 1024, 64L * 1024 * 1024, &n, err))
		return (CRM_ERROR);
	cfg->json_body_max = (size_t)n;

	if (!parse_long("CRM_IMPORT_BODY_MAX", get("CRM_IMPORT_BODY_MAX"),
		1024L * 1024 * 1024, 1024, 64L * 1024 * 1024 * 1024, &n, err))
		return (CRM_ERROR);
	cfg->import_body_max = (size_t)n;

	v = get("CRM_TRUST_PROXY");
	cfg->trust_proxy = (v != NULL && !strcmp(v, "1"));

	if (!parse_long("CRM_RATE_LIMIT_KEY", get("CRM_RATE_LIMIT_KEY"), 1200,
		0, 1000000, &cfg->rate_limit_key, err) ||
	    !parse_long("CRM_RATE_LIMIT_USER", get("CRM_RATE_LIMIT_USER"), 600,
		0, 1000000, &cfg->rate_limit_user, err) ||
	    !parse_long("CRM_RATE_LIMIT_WINDOW", get("CRM_RATE_LIMIT_WINDOW"),
		60, 1, 3600, &cfg->rate_limit_window, err))
		return (CRM_ERROR);

	v = get("CRM_DEMO");
	cfg->demo = (v != NULL && !strcmp(v, "1"));
	if (cfg->demo && cfg->production)
		return (crm_error_set(err, CRM_ERR_VALIDATION,
		    "CRM_DEMO cannot be enabled in production"));

	return (CRM_OK);
}

/* Copy `value` into `dst`, refusing to truncate it. */
static int
copy_value(char *dst, size_t size, const char *name, const char *value,
    struct crm_error *err)
{
	size_t len;

	len = strlen(value);
	if (len >= size)
		return (crm_error_set(err, CRM_ERR_VALIDATION,
		    "%s is longer than %zu bytes", name, size - 1));
	memcpy(dst, value, len + 1);

	return (CRM_OK);
}

/* Parse a decimal integer in [min, max]; unset or empty means `def`. */
static int
parse_long(const char *name, const char *value, long def, long min, long max,
    long *out, struct crm_error *err)
{
	char *end;
	long n;

	if (value == NULL || *value == '\0') {
		*out = def;
		return (CRM_OK);
	}

	errno = 0;
	n = strtol(value, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return (crm_error_set(err, CRM_ERR_VALIDATION,
		    "%s must be an integer from %ld to %ld", name, min, max));

	*out = n;
	return (CRM_OK);
}
