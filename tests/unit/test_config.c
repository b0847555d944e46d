/* Unit tests of src/config.c: defaults, limits, production refusals. */
#include <stdlib.h>

#include "check.h"
#include "crm/config.h"

static const char *const *vars;

static const char *
table_get(const char *name)
{
	size_t i;

	for (i = 0; vars[i] != NULL; i += 2)
		if (strcmp(vars[i], name) == 0)
			return (vars[i + 1]);
	return (NULL);
}

static int
load(const char *const *table, struct crm_config *cfg, struct crm_error *err)
{
	vars = table;
	crm_error_init(err);
	return (crm_config_load(cfg, table_get, err));
}

int
main(void)
{
	struct crm_config cfg;
	struct crm_error err;
	static const char *const empty[] = {NULL};
	static const char *const prod_default[] = {"CRM_ENV", "production",
	    NULL};
	static const char *const prod_dev_secret[] = {"CRM_ENV", "production",
	    "CRM_JWT_SECRET", CRM_DEV_JWT_SECRET, NULL};
	static const char *const prod_short[] = {"CRM_ENV", "production",
	    "CRM_JWT_SECRET", "short", NULL};
	static const char *const prod_ok[] = {"CRM_ENV", "production",
	    "CRM_JWT_SECRET", "0123456789abcdef0123456789abcdef-prod",
	    "CRM_DATABASE_URL", "host=db dbname=crm", NULL};
	static const char *const prod_demo[] = {"CRM_ENV", "production",
	    "CRM_JWT_SECRET", "0123456789abcdef0123456789abcdef-prod",
	    "CRM_DEMO", "1", NULL};
	static const char *const bad_env[] = {"CRM_ENV", "prod", NULL};
	static const char *const bad_pool[] = {"CRM_DB_POOL", "0", NULL};
	static const char *const junk_pool[] = {"CRM_DB_POOL", "8x", NULL};
	static const char *const pool[] = {"CRM_DB_POOL", "12",
	    "CRM_JSON_BODY_MAX", "2048", "CRM_IMPORT_BODY_MAX", "4096", NULL};
	static const char *const bad_import[] = {"CRM_IMPORT_BODY_MAX", "1g",
	    NULL};
	static const char *const limits[] = {"CRM_RATE_LIMIT_KEY", "0",
	    "CRM_RATE_LIMIT_USER", "5", "CRM_RATE_LIMIT_WINDOW", "2", NULL};
	static const char *const bad_limit[] = {"CRM_RATE_LIMIT_USER", "-1",
	    NULL};
	static const char *const bad_window[] = {"CRM_RATE_LIMIT_WINDOW", "0",
	    NULL};

	CHECK(load(empty, &cfg, &err) == CRM_OK);
	CHECK(cfg.production == 0);
	CHECK_STR(cfg.jwt_secret, CRM_DEV_JWT_SECRET);
	CHECK_STR(cfg.database_url, CRM_DEFAULT_DB_URL);
	CHECK(cfg.db_pool == 8);
	CHECK(cfg.json_body_max == 1024 * 1024);
	CHECK(cfg.rate_limit_key == 1200);
	CHECK(cfg.rate_limit_user == 600);
	CHECK(cfg.rate_limit_window == 60);
	CHECK(cfg.import_body_max == 1024UL * 1024 * 1024);

	CHECK(load(prod_default, &cfg, &err) == CRM_ERROR);
	CHECK(strstr(err.detail, "CRM_JWT_SECRET") != NULL);
	CHECK(load(prod_dev_secret, &cfg, &err) == CRM_ERROR);
	CHECK(strstr(err.detail, "development default") != NULL);
	CHECK(load(prod_short, &cfg, &err) == CRM_ERROR);
	CHECK(strstr(err.detail, "at least 32") != NULL);
	CHECK(load(prod_demo, &cfg, &err) == CRM_ERROR);

	CHECK(load(prod_ok, &cfg, &err) == CRM_OK);
	CHECK(cfg.production == 1);
	CHECK_STR(cfg.database_url, "host=db dbname=crm");

	CHECK(load(bad_env, &cfg, &err) == CRM_ERROR);
	CHECK(load(bad_pool, &cfg, &err) == CRM_ERROR);
	CHECK(strstr(err.detail, "CRM_DB_POOL") != NULL);
	CHECK(load(junk_pool, &cfg, &err) == CRM_ERROR);
	CHECK(load(pool, &cfg, &err) == CRM_OK);
	CHECK(cfg.db_pool == 12);
	CHECK(cfg.json_body_max == 2048);
	CHECK(cfg.import_body_max == 4096);
	CHECK(load(bad_import, &cfg, &err) == CRM_ERROR);
	CHECK(strstr(err.detail, "CRM_IMPORT_BODY_MAX") != NULL);

	CHECK(load(limits, &cfg, &err) == CRM_OK);
	CHECK(cfg.rate_limit_key == 0);
	CHECK(cfg.rate_limit_user == 5);
	CHECK(cfg.rate_limit_window == 2);
	CHECK(load(bad_limit, &cfg, &err) == CRM_ERROR);
	CHECK(strstr(err.detail, "CRM_RATE_LIMIT_USER") != NULL);
	CHECK(load(bad_window, &cfg, &err) == CRM_ERROR);
	CHECK(strstr(err.detail, "CRM_RATE_LIMIT_WINDOW") != NULL);

	CHECK_DONE();
}
