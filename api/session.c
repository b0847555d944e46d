/*
 * Who is calling: access tokens (JWT, verified here) and API keys
 * (verified by the database when the statement binds the caller), and the
 * session endpoints: login, refresh-token rotation, logout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "crm/auth.h"

#define API_KEY_PREFIX "crm_"
#define REFRESH_PREFIX "rt_"
#define CREDENTIAL_MAX 4096

enum {
	STEP_START,
	STEP_LOOKUP,
	STEP_VERIFY,
	STEP_FINISH,
};

static const struct crm_jwt_config *
jwt_config(void)
{
	static struct crm_jwt_config cfg;

	cfg.secret = api_config.jwt_secret;
	cfg.issuer = CRM_JWT_ISSUER;
	cfg.audience = CRM_JWT_AUDIENCE;
	cfg.ttl = api_config.jwt_ttl;
	cfg.leeway = 30;

	return (&cfg);
}

static int
unauthorized(struct http_request *req, struct api_ctx *ctx, const char *why)
{
	return (api_respond_error(req, ctx, CRM_ERR_UNAUTHORIZED, why), 0);
}

/*
 * Turn the request's credentials into ctx->principal, the JSON that
 * crm_bind() checks and binds: {"user", "org", "jti"} from a verified
 * access token, or {"key", "scope"} (the SHA-256 of an API key and the
 * scope the route needs), plus the request id and client address for the
 * audit log; and ctx->credential, what rate limits count. Answers 401
 * itself and returns 0 when there are none or the token is invalid; the
 * detail never says which check failed.
 */
int
api_authenticate(struct http_request *req, struct api_ctx *ctx)
{
	struct crm_claims claims;
	struct crm_error err;
	const char *hdr, *token;
	char hash[65];
	json_t *p;
	char *text;
	int ok;

	token = NULL;
	if (http_request_header(req, "authorization", &hdr)) {
		if (strncasecmp(hdr, "Bearer ", 7) != 0)
			return (
			    unauthorized(req, ctx, "Use the Bearer scheme."));
		token = hdr + 7;
		while (*token == ' ')
			token++;
	} else if (http_request_header(req, "x-api-key", &hdr)) {
		token = hdr;
	}
	if (token == NULL || *token == '\0')
		return (unauthorized(req, ctx,
		    "Authentication is required: an access token or an "
		    "API key."));
	if (strlen(token) > CREDENTIAL_MAX)
		return (unauthorized(req, ctx, "The credentials are invalid."));

	if (strncmp(token, API_KEY_PREFIX, strlen(API_KEY_PREFIX)) == 0) {
		crm_sha256_hex(token, strlen(token), hash);
		p = json_pack("{s:s, s:s}", "key", hash, "scope",
		    ctx->route->scope);
		(void)snprintf(ctx->credential, sizeof(ctx->credential),
		    "key:%s", hash);
	} else {
		crm_error_init(&err);
		ok = crm_jwt_verify(jwt_config(), token, (long long)time(NULL),
		    &claims, &err);
		crm_error_cleanup(&err);
		if (!ok)
			return (unauthorized(req, ctx,
			    "The access token is invalid or expired."));
		p = json_pack("{s:s, s:s, s:s}", "user", claims.sub, "org",
		    claims.org, "jti", claims.jti);
		(void)snprintf(ctx->credential, sizeof(ctx->credential),
		    "user:%s", claims.sub);
		ctx->admin_claim = !strcmp(claims.role, "admin");
	}
	if (p == NULL)
		return (unauthorized(req, ctx, "The credentials are invalid."));

	json_object_set_new(p, "rid", json_string(ctx->request_id));
	json_object_set_new(p, "ip", json_string(ctx->ip));
	text = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	if (text == NULL)
		fatal("crm: out of memory");
	ctx->principal = kore_strdup(text);
	free(text);

	return (1);
}

/* The JSON text of the finished statement as an object, or NULL. */
static json_t *
db_object(struct api_ctx *ctx)
{
	const char *value;
	size_t len;

	if ((value = crm_db_value(ctx->db, &len)) == NULL)
		return (NULL);
	return (json_loadb(value, len, 0, NULL));
}

/* Run the current statement; 0 while it waits, -1 after answering. */
static int
db_step(struct http_request *req, struct api_ctx *ctx, json_t **out)
{
	const struct crm_error *err;

	*out = NULL;
	if (crm_db_run(ctx->db) == CRM_DB_PENDING)
		return (0);
	err = crm_db_error(ctx->db);
	if (err->kind != CRM_ERR_NONE) {
		kore_log(LOG_WARNING, "request %s: %s", ctx->request_id,
		    crm_db_detail(ctx->db));
		api_respond_problem(req, ctx, err);
		return (-1);
	}
	if ((*out = db_object(ctx)) == NULL) {
		api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL);
		return (-1);
	}
	crm_db_free(ctx->db);
	ctx->db = NULL;

	return (1);
}

/*
 * Answer a successful login or refresh: sign an access token for the
 * claims the database returned and hand out the new refresh token.
 */
static int
respond_tokens(struct http_request *req, struct api_ctx *ctx, json_t *who,
    const char *refresh)
{
	struct crm_claims claims;
	struct crm_error err;
	char *jwt, *body;
	json_t *doc;

	memset(&claims, 0, sizeof(claims));
	(void)kore_strlcpy(claims.sub,
	    json_string_value(json_object_get(who, "sub")), sizeof(claims.sub));
	(void)kore_strlcpy(claims.org,
	    json_string_value(json_object_get(who, "org")), sizeof(claims.org));
	(void)kore_strlcpy(claims.role,
	    json_string_value(json_object_get(who, "role")),
	    sizeof(claims.role));

	crm_error_init(&err);
	if (!crm_jwt_sign(jwt_config(), &claims, (long long)time(NULL), &jwt,
		&err)) {
		crm_error_cleanup(&err);
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
	}
	crm_error_cleanup(&err);

	doc = json_pack("{s:s, s:s, s:i, s:s}", "access_token", jwt,
	    "token_type", "Bearer", "expires_in", api_config.jwt_ttl,
	    "refresh_token", refresh);
	body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	free(jwt);
	api_respond_json(req, ctx, 200, body, strlen(body));
	free(body);

	return (KORE_RESULT_OK);
}

/*
 * POST /v1/auth/login {email, password}. Throttled per account and per
 * client address (429 + Retry-After); the answer to a wrong password and
 * to an unknown email is the same, and so is the time it takes (a dummy
 * hash is verified for unknown accounts).
 */
int
api_auth_login(struct http_request *req, struct api_ctx *ctx)
{
	const char *email, *password;
	char refresh[128], hash[65];
	json_t *res, *v;
	int r;

	email = json_string_value(json_object_get(ctx->body, "email"));
	password = json_string_value(json_object_get(ctx->body, "password"));

	switch (ctx->step) {
	case STEP_START:
		api_db(req, ctx, "SELECT auth_login_start($1, $2)");
		(void)api_db_param(ctx, email);
		(void)api_db_param(ctx, ctx->ip);
		ctx->step = STEP_LOOKUP;
		/* FALLTHROUGH */
	case STEP_LOOKUP:
		if ((r = db_step(req, ctx, &res)) <= 0)
			return (r == 0 ? KORE_RESULT_RETRY : KORE_RESULT_OK);
		if ((v = json_object_get(res, "retry_after")) != NULL) {
			struct crm_error err;

			crm_error_init(&err);
			crm_error_set(&err, CRM_ERR_RATE_LIMITED,
			    "Too many failed logins; try again later.");
			err.retry_after = (int)json_integer_value(v);
			api_respond_problem(req, ctx, &err);
			crm_error_cleanup(&err);
			json_decref(res);
			return (KORE_RESULT_OK);
		}
		ctx->step = STEP_VERIFY;
		r = api_work_start(req, ctx, 1, password,
		    json_string_value(json_object_get(res, "hash")));
		json_decref(res);
		return (r);
	case STEP_VERIFY:
		if (!api_work_done(req, ctx))
			return (KORE_RESULT_RETRY);
		if (!crm_token_random(refresh, sizeof(refresh), REFRESH_PREFIX))
			return (api_respond_error(req, ctx, CRM_ERR_INTERNAL,
			    NULL));
		crm_sha256_hex(refresh, strlen(refresh), hash);
		(void)kore_strlcpy(ctx->work->encoded, refresh,
		    sizeof(ctx->work->encoded));
		api_db(req, ctx,
		    "SELECT auth_login_finish($1, $2, $3, $4, NULL, $5)");
		(void)api_db_param(ctx, email);
		(void)api_db_param(ctx, ctx->ip);
		(void)api_db_param(ctx, ctx->work->ok ? "true" : "false");
		(void)api_db_param(ctx, hash);
		(void)api_db_param(ctx, ctx->request_id);
		ctx->step = STEP_FINISH;
		/* FALLTHROUGH */
	case STEP_FINISH:
		if ((r = db_step(req, ctx, &res)) <= 0)
			return (r == 0 ? KORE_RESULT_RETRY : KORE_RESULT_OK);
		if (json_object_get(res, "failed") != NULL) {
			json_decref(res);
			return (
			    api_respond_error(req, ctx, CRM_ERR_UNAUTHORIZED,
				"The email or password is incorrect."));
		}
		r = respond_tokens(req, ctx, res, ctx->work->encoded);
		json_decref(res);
		return (r);
	}

	return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
}

/*
 * POST /v1/auth/refresh {refresh_token}: rotate it (the presented token
 * dies) and issue a new access token. A token presented twice revokes its
 * whole family.
 */
int
api_auth_refresh(struct http_request *req, struct api_ctx *ctx)
{
	const char *old;
	char old_hash[65], new_hash[65];
	json_t *res;
	int r;

	if (ctx->step == STEP_START) {
		old = json_string_value(
		    json_object_get(ctx->body, "refresh_token"));
		ctx->work = kore_calloc(1, sizeof(*ctx->work));
		if (!crm_token_random(ctx->work->encoded,
			sizeof(ctx->work->encoded), REFRESH_PREFIX))
			return (api_respond_error(req, ctx, CRM_ERR_INTERNAL,
			    NULL));
		crm_sha256_hex(old, strlen(old), old_hash);
		crm_sha256_hex(ctx->work->encoded, strlen(ctx->work->encoded),
		    new_hash);
		api_db(req, ctx, "SELECT auth_refresh($1, $2, NULL, $3, $4)");
		(void)api_db_param(ctx, old_hash);
		(void)api_db_param(ctx, new_hash);
		(void)api_db_param(ctx, ctx->request_id);
		(void)api_db_param(ctx, ctx->ip);
		ctx->step = STEP_FINISH;
	}

	if ((r = db_step(req, ctx, &res)) <= 0)
		return (r == 0 ? KORE_RESULT_RETRY : KORE_RESULT_OK);
	if (json_object_get(res, "failed") != NULL) {
		json_decref(res);
		return (api_respond_error(req, ctx, CRM_ERR_UNAUTHORIZED,
		    "The refresh token is invalid, expired or revoked."));
	}
	r = respond_tokens(req, ctx, res, ctx->work->encoded);
	json_decref(res);

	return (r);
}

/* POST /v1/auth/logout {refresh_token}: revoke it (and its family). */
int
api_auth_logout(struct http_request *req, struct api_ctx *ctx)
{
	const char *token;
	char hash[65];

	if (ctx->db == NULL) {
		token = json_string_value(
		    json_object_get(ctx->body, "refresh_token"));
		crm_sha256_hex(token, strlen(token), hash);
		api_db(req, ctx, "SELECT auth_logout($1, $2, $3)");
		(void)api_db_param(ctx, hash);
		(void)api_db_param(ctx, ctx->request_id);
		(void)api_db_param(ctx, ctx->ip);
	}

	return (api_db_respond(req, ctx, 204, API_RESP_EMPTY));
}
