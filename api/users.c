/*
 * Users, the caller (/v1/me), API keys and the audit log. Each handler
 * takes what the router parsed and checked (ctx->params, ctx->query,
 * ctx->body), runs one api_* function (sql/0004_api_users.sql) that binds
 * the caller and decides visibility, and answers with its JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "crm/auth.h"

/* GET /v1/me */
int
api_me_get(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL)
		api_db(req, ctx, "SELECT api_me($1)");

	return (api_db_respond(req, ctx, 200, API_RESP_PLAIN));
}

/* GET /v1/users */
int
api_users_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_users_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* GET /v1/users/{id} */
int
api_users_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_users_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* POST /v1/users (admin): the password is hashed in a task first. */
int
api_users_create(struct http_request *req, struct api_ctx *ctx)
{
	json_t *b;

	if (ctx->work == NULL)
		return (api_work_start(req, ctx, 0,
		    json_string_value(json_object_get(ctx->body, "password")),
		    NULL));
	if (ctx->db == NULL) {
		if (!api_work_done(req, ctx))
			return (KORE_RESULT_RETRY);
		if (!ctx->work->ok)
			return (api_respond_error(req, ctx, CRM_ERR_INTERNAL,
			    NULL));
		b = json_deep_copy(ctx->body);
		json_object_del(b, "password");
		api_db(req, ctx, "SELECT api_users_create($1, $2, $3)");
		(void)api_db_param_json(ctx, b);
		(void)api_db_param(ctx, ctx->work->encoded);
		json_decref(b);
	}

	return (
	    api_db_respond(req, ctx, 201, API_RESP_LOCATION | API_RESP_ETAG));
}

/*
 * PATCH /v1/users/{id} (admin): merge patch; If-Match optional. A new
 * password is hashed in a task first.
 */
int
api_users_update(struct http_request *req, struct api_ctx *ctx)
{
	const char *password;
	char version[16];
	json_t *b;
	int im;

	password = json_string_value(json_object_get(ctx->body, "password"));
	if (ctx->db == NULL) {
		if (!api_path_id(req, ctx))
			return (KORE_RESULT_OK);
		if ((im = api_if_match(req, ctx, version, sizeof(version))) < 0)
			return (KORE_RESULT_OK);
		if (password != NULL && ctx->work == NULL)
			return (api_work_start(req, ctx, 0, password, NULL));
		if (ctx->work != NULL && !api_work_done(req, ctx))
			return (KORE_RESULT_RETRY);
		if (ctx->work != NULL && !ctx->work->ok)
			return (api_respond_error(req, ctx, CRM_ERR_INTERNAL,
			    NULL));
		b = json_deep_copy(ctx->body);
		json_object_del(b, "password");
		api_db(req, ctx, "SELECT api_users_update($1, $2, $3, $4, $5)");
		(void)api_db_param(ctx, ctx->params.value[0]);
		(void)api_db_param_json(ctx, b);
		(void)api_db_param(ctx,
		    ctx->work != NULL ? ctx->work->encoded : NULL);
		(void)api_db_param(ctx, im > 0 ? version : NULL);
		json_decref(b);
	}

	return (api_db_respond(req, ctx, 200, API_RESP_ETAG));
}

/* DELETE /v1/users/{id} (admin): deactivate. */
int
api_users_deactivate(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_users_deactivate($1, $2)",
	    200, API_RESP_ETAG));
}

/*
 * POST /v1/api-keys (admin): the key is made here, stored as its SHA-256,
 * and shown in this response only.
 */
int
api_keys_create(struct http_request *req, struct api_ctx *ctx)
{
	const struct crm_error *err;
	const char *value;
	char key[128], hash[65], prefix[16];
	json_t *doc;
	char *body;
	size_t len;

	if (ctx->db == NULL) {
		if (!crm_token_random(key, sizeof(key), "crm_"))
			return (api_respond_error(req, ctx, CRM_ERR_INTERNAL,
			    NULL));
		crm_sha256_hex(key, strlen(key), hash);
		(void)snprintf(prefix, sizeof(prefix), "%.12s", key);
		ctx->work = kore_calloc(1, sizeof(*ctx->work));
		(void)kore_strlcpy(ctx->work->encoded, key,
		    sizeof(ctx->work->encoded));
		explicit_bzero(key, sizeof(key));
		api_db(req, ctx, "SELECT api_keys_create($1, $2, $3, $4)");
		(void)api_db_param_json(ctx, ctx->body);
		(void)api_db_param(ctx, prefix);
		(void)api_db_param(ctx, hash);
	}

	if (crm_db_run(ctx->db) == CRM_DB_PENDING)
		return (KORE_RESULT_RETRY);
	err = crm_db_error(ctx->db);
	if (err->kind != CRM_ERR_NONE)
		return (api_respond_problem(req, ctx, err));
	value = crm_db_value(ctx->db, &len);
	if (value == NULL || (doc = json_loadb(value, len, 0, NULL)) == NULL)
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));

	json_object_set_new(doc, "key", json_string(ctx->work->encoded));
	body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	(void)snprintf(key, sizeof(key), "%s/%s", req->path,
	    json_string_value(json_object_get(doc, "id")));
	json_decref(doc);
	http_response_header(req, "location", key);
	api_respond_json(req, ctx, 201, body, strlen(body));
	explicit_bzero(body, strlen(body));
	free(body);

	return (KORE_RESULT_OK);
}

/* GET /v1/api-keys (admin) */
int
api_keys_list(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->db == NULL)
		api_db(req, ctx, "SELECT api_keys_list($1)");

	return (api_db_respond(req, ctx, 200, API_RESP_PLAIN));
}

/* DELETE /v1/api-keys/{id} (admin): revoke. */
int
api_keys_revoke(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_keys_revoke($1, $2)", 204,
	    API_RESP_EMPTY));
}

/* GET /v1/audit (admin) */
int
api_audit_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_audit_list($1, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}
