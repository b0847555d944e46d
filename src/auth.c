/*
 * Access tokens, password hashes and opaque secrets, without Kore.
 *
 * Access tokens are JWTs signed HS256 with a server-held secret, checked
 * as RFC 8725 asks: the algorithm is pinned, the key is always given, and
 * the header and the claims are parsed and checked here, because libjwt
 * 1.10 verifies the signature only (it accepts any token when given no
 * key, any HMAC algorithm the key fits, and no claim is looked at; see
 * STACK-NOTES). Every failed check gives the same client-safe error.
 *
 * Passwords are scrypt through OpenSSL 3, stored as
 * "scrypt$N$r$p$<salt hex>$<key hex>", the format `openssl kdf ... SCRYPT`
 * produces for the demo seed (.dev/lib.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crm/auth.h"
#include "crm/validate.h"

#define TOKEN_INVALID "The access token is invalid or expired."
#define JTI_RANDOM_LEN 16 /* bytes: 22 base64url characters */
/* OpenSSL's own ceiling, a backstop: V and B of the largest accepted run. */
#define SCRYPT_MAXMEM (CRM_SCRYPT_MEM_MAX + 1024 * 1024)

/* The stored hash for crm_password_dummy_verify(): a discarded password. */
#define DUMMY_HASH \
	"scrypt$16384$8$1$490b7efbd5c51c54e653ff513940b24f$" \
	"ecd4c0350fcb16609e1211d7ed7d9e6a4fe0bbe35c7b86e57f842c7367b4af7c"

/* A parsed stored password hash. */
struct scrypt_hash {
	unsigned long long n, r, p;
	unsigned char salt[CRM_SCRYPT_SALT_MAX];
	size_t saltlen;
	unsigned char key[CRM_SCRYPT_KEY_LEN];
};

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char *const roles[] = {"admin", "executive", "sales_manager",
    "sales_rep", "marketing", "service", "integration", NULL};

static size_t jwt_config_keylen(const struct crm_jwt_config *);
static char *jwt_encode_claims(const struct crm_jwt_config *, size_t,
    const struct crm_claims *);
static int token_split(const char *, size_t *, size_t *);
static json_t *segment_json(const char *, size_t);
static int header_ok(json_t *);
static int claims_times_ok(json_t *, const struct crm_jwt_config *, long long,
    struct crm_claims *);
static int
claims_strings_ok(json_t *, const struct crm_jwt_config *, struct crm_claims *);
static int claim_time(json_t *, const char *, long long *);
static int claim_equals(json_t *, const char *, const char *);
static int claim_copy(json_t *, const char *, char *, size_t);
static int jti_valid(const char *);
static int
scrypt_params_ok(unsigned long long, unsigned long long, unsigned long long);
static int scrypt_parse(const char *, struct scrypt_hash *);
static int
parse_decimal(const char **, unsigned long long, unsigned long long *);
static int scrypt_derive(const char *, size_t, const unsigned char *, size_t,
    unsigned long long, unsigned long long, unsigned long long,
    unsigned char *);
static void b64url_encode(const unsigned char *, size_t, char *);
static int
b64url_decode(const char *, size_t, unsigned char *, size_t, size_t *);
static void hex_encode(const unsigned char *, size_t, char *);
static int hex_decode(const char *, size_t, unsigned char *);

/* --- Access tokens ------------------------------------------------------ */

/*
 * Sign an access token for c->sub, c->org and c->role (given) at time
 * `now`: fills c->jti (random), c->iat = c->nbf = now and c->exp = now +
 * ttl, and sets *out to the compact JWT, header {"alg":"HS256",
 * "typ":"JWT"}, a new string the caller frees with free(). Fails
 * (CRM_ERR_INTERNAL, *out NULL) on an unusable config or claims, or when
 * randomness or memory ran out.
 */
int
crm_jwt_sign(const struct crm_jwt_config *cfg, struct crm_claims *c,
    long long now, char **out, struct crm_error *err)
{
	unsigned char raw[JTI_RANDOM_LEN];
	size_t keylen;

	*out = NULL;
	if ((keylen = jwt_config_keylen(cfg)) == 0)
		return (crm_error_set(err, CRM_ERR_INTERNAL,
		    "The token signing configuration is unusable."));
	if (!crm_uuid_valid(c->sub) || !crm_uuid_valid(c->org) ||
	    !crm_role_valid(c->role) || now < 0 ||
	    now > CRM_JWT_TIME_MAX - CRM_JWT_MAX_LIFETIME)
		return (crm_error_set(err, CRM_ERR_INTERNAL,
		    "The token claims are invalid."));
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return (crm_error_set(err, CRM_ERR_INTERNAL,
		    "No randomness is available."));

	b64url_encode(raw, sizeof(raw), c->jti);
	c->iat = now;
	c->nbf = now;
	c->exp = now + cfg->ttl;

	if ((*out = jwt_encode_claims(cfg, keylen, c)) == NULL)
		return (crm_error_set(err, CRM_ERR_INTERNAL,
		    "The access token could not be signed."));

	return (CRM_OK);
}

/*
 * Verify `token` at time `now` and copy its claims into `out`. CRM_OK
 * only when: the token is at most CRM_JWT_MAX_LEN bytes of three non-empty
 * base64url segments; the config has a secret of 32 bytes or more; the
 * header is {"alg":"HS256"} with "typ" absent or "JWT" and no "crit"; the
 * HS256 signature with that secret is right (libjwt); the claims have no
 * duplicates, iat/exp (and nbf when present) are JSON integers with
 * iat <= now + leeway, nbf <= now + leeway, exp > now - leeway and
 * 0 < exp - iat <= CRM_JWT_MAX_LIFETIME; iss and aud are the configured
 * strings; sub and org are UUIDs, role a known role, jti 1-63 base64url
 * characters. Otherwise CRM_ERROR, `out` zeroed, and `err` a 401 with one
 * generic detail that never says which check failed.
 */
int
crm_jwt_verify(const struct crm_jwt_config *cfg, const char *token,
    long long now, struct crm_claims *out, struct crm_error *err)
{
	json_t *head, *body;
	jwt_t *jwt;
	size_t keylen, headlen, bodylen;
	int ok;

	memset(out, 0, sizeof(*out));
	head = body = NULL;
	jwt = NULL;
	ok = CRM_ERROR;

	if ((keylen = jwt_config_keylen(cfg)) == 0 || now < 0 ||
	    now > CRM_JWT_TIME_MAX)
		goto cleanup;
	if (!token_split(token, &headlen, &bodylen))
		goto cleanup;

	/* Our header check first: only HS256 tokens ever reach libjwt. */
	if ((head = segment_json(token, headlen)) == NULL || !header_ok(head))
		goto cleanup;
	if (jwt_decode(&jwt, token, (const unsigned char *)cfg->secret,
		(int)keylen) != 0 ||
	    jwt == NULL || jwt_get_alg(jwt) != JWT_ALG_HS256)
		goto cleanup;

	if ((body = segment_json(token + headlen + 1, bodylen)) == NULL)
		goto cleanup;
	if (!claims_times_ok(body, cfg, now, out) ||
	    !claims_strings_ok(body, cfg, out))
		goto cleanup;

	ok = CRM_OK;

cleanup:
	if (jwt != NULL)
		jwt_free(jwt);
	json_decref(head);
	json_decref(body);
	if (ok != CRM_OK) {
		memset(out, 0, sizeof(*out));
		crm_error_set(err, CRM_ERR_UNAUTHORIZED, "%s", TOKEN_INVALID);
	}

	return (ok);
}

/* Return 1 when `role` is one of the roles users can have (sql/0001). */
int
crm_role_valid(const char *role)
{
	size_t i;

	if (role == NULL)
		return (0);
	for (i = 0; roles[i] != NULL; i++) {
		if (!strcmp(roles[i], role))
			return (1);
	}

	return (0);
}

/*
 * The length of the config's secret when the whole config is usable
 * (secret of CRM_JWT_SECRET_MIN_LEN bytes or more, issuer and audience
 * set, ttl and leeway in range), else 0.
 */
static size_t
jwt_config_keylen(const struct crm_jwt_config *cfg)
{
	size_t len;

	if (cfg == NULL || cfg->secret == NULL || cfg->issuer == NULL ||
	    cfg->audience == NULL || cfg->ttl < 1 ||
	    cfg->ttl > CRM_JWT_MAX_LIFETIME || cfg->leeway < 0 ||
	    cfg->leeway > CRM_JWT_LEEWAY_MAX)
		return (0);
	len = strlen(cfg->secret);
	if (len < CRM_JWT_SECRET_MIN_LEN || len > INT_MAX)
		return (0);

	return (len);
}

/*
 * Have libjwt sign the claims `c` with HS256. The claims go in as one
 * JSON document so times stay 64-bit (jwt_add_grant_int takes a long).
 * Returns the token, malloc'ed by libjwt (1.10 has no allocator hooks, so
 * free() releases it), or NULL.
 */
static char *
jwt_encode_claims(const struct crm_jwt_config *cfg, size_t keylen,
    const struct crm_claims *c)
{
	json_t *doc;
	jwt_t *jwt;
	char *text, *token;

	jwt = NULL;
	text = token = NULL;

	doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss",
	    cfg->issuer, "aud", cfg->audience, "sub", c->sub, "org", c->org,
	    "role", c->role, "jti", c->jti, "iat", (json_int_t)c->iat, "nbf",
	    (json_int_t)c->nbf, "exp", (json_int_t)c->exp);
	if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL)
		goto cleanup;
	if (jwt_new(&jwt) != 0)
		goto cleanup;
	if (jwt_add_grants_json(jwt, text) != 0 ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)cfg->secret,
		(int)keylen) != 0)
		goto cleanup;
	token = jwt_encode_str(jwt);

cleanup:
	if (jwt != NULL)
		jwt_free(jwt);
	free(text);
	json_decref(doc);

	return (token);
}

/*
 * Check the token's shape: 1 to CRM_JWT_MAX_LEN bytes of base64url
 * characters and exactly two dots, each of the three segments non-empty.
 * Sets the lengths of the first two segments.
 */
static int
token_split(const char *token, size_t *headlen, size_t *bodylen)
{
	const char *dot1, *dot2;
	size_t len;

	if (token == NULL)
		return (0);
	len = strnlen(token, CRM_JWT_MAX_LEN + 1);
	if (len == 0 || len > CRM_JWT_MAX_LEN)
		return (0);
	if (strspn(token,
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789-_.") != len)
		return (0);

	if ((dot1 = strchr(token, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL ||
	    strchr(dot2 + 1, '.') != NULL)
		return (0);
	if (dot1 == token || dot2 == dot1 + 1 || dot2[1] == '\0')
		return (0);

	*headlen = (size_t)(dot1 - token);
	*bodylen = (size_t)(dot2 - dot1 - 1);

	return (1);
}

/*
 * Decode one base64url segment and parse it as a JSON object, duplicate
 * keys refused (libjwt would keep the last one). Returns a new reference
 * or NULL.
 */
static json_t *
segment_json(const char *seg, size_t len)
{
	unsigned char buf[CRM_JWT_MAX_LEN];
	json_t *doc;
	size_t n;

	if (!b64url_decode(seg, len, buf, sizeof(buf), &n))
		return (NULL);
	doc = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (doc != NULL && !json_is_object(doc)) {
		json_decref(doc);
		doc = NULL;
	}

	return (doc);
}

/* The header we issue: alg HS256, typ absent or "JWT", no crit. */
static int
header_ok(json_t *head)
{
	json_t *typ;

	if (!claim_equals(head, "alg", "HS256"))
		return (0);
	typ = json_object_get(head, "typ");
	if (typ != NULL && !claim_equals(head, "typ", "JWT"))
		return (0);

	return (json_object_get(head, "crit") == NULL);
}

/*
 * The time claims: iat and exp required, nbf optional, all integers in
 * [0, CRM_JWT_TIME_MAX] (so no arithmetic below can overflow), and the
 * token within its lifetime at `now`, give or take the leeway.
 */
static int
claims_times_ok(json_t *body, const struct crm_jwt_config *cfg, long long now,
    struct crm_claims *out)
{
	if (!claim_time(body, "iat", &out->iat) ||
	    !claim_time(body, "exp", &out->exp))
		return (0);
	if (json_object_get(body, "nbf") != NULL &&
	    !claim_time(body, "nbf", &out->nbf))
		return (0);

	if (out->iat > now + cfg->leeway || out->nbf > now + cfg->leeway)
		return (0);
	if (out->exp <= now - cfg->leeway)
		return (0);
	if (out->exp <= out->iat || out->exp - out->iat > CRM_JWT_MAX_LIFETIME)
		return (0);

	return (1);
}

/* iss and aud exactly ours; sub, org, role and jti well-formed. */
static int
claims_strings_ok(json_t *body, const struct crm_jwt_config *cfg,
    struct crm_claims *out)
{
	if (!claim_equals(body, "iss", cfg->issuer) ||
	    !claim_equals(body, "aud", cfg->audience))
		return (0);
	if (!claim_copy(body, "sub", out->sub, sizeof(out->sub)) ||
	    !crm_uuid_valid(out->sub))
		return (0);
	if (!claim_copy(body, "org", out->org, sizeof(out->org)) ||
	    !crm_uuid_valid(out->org))
		return (0);
	if (!claim_copy(body, "role", out->role, sizeof(out->role)) ||
	    !crm_role_valid(out->role))
		return (0);
	if (!claim_copy(body, "jti", out->jti, sizeof(out->jti)) ||
	    !jti_valid(out->jti))
		return (0);

	return (1);
}

/* A NumericDate that must be a JSON integer (not a string, not a real). */
static int
claim_time(json_t *obj, const char *name, long long *out)
{
	json_t *v;
	json_int_t t;

	if (!json_is_integer(v = json_object_get(obj, name)))
		return (0);
	t = json_integer_value(v);
	if (t < 0 || t > CRM_JWT_TIME_MAX)
		return (0);
	*out = (long long)t;

	return (1);
}

/* 1 when member `name` is a string equal to `want`. */
static int
claim_equals(json_t *obj, const char *name, const char *want)
{
	json_t *v;

	if (!json_is_string(v = json_object_get(obj, name)))
		return (0);

	return (strcmp(json_string_value(v), want) == 0);
}

/* Copy string member `name` (1 to size - 1 bytes) into `out`. */
static int
claim_copy(json_t *obj, const char *name, char *out, size_t size)
{
	json_t *v;
	size_t len;

	if (!json_is_string(v = json_object_get(obj, name)))
		return (0);
	len = json_string_length(v);
	if (len == 0 || len >= size || strlen(json_string_value(v)) != len)
		return (0);
	memcpy(out, json_string_value(v), len + 1);

	return (1);
}

/* A token id as we make them: base64url characters only. */
static int
jti_valid(const char *jti)
{
	return (jti[0] != '\0' && strspn(jti, b64url_chars) == strlen(jti));
}

/* --- Passwords ---------------------------------------------------------- */

/*
 * Hash `password` (1 to CRM_PASSWORD_MAX_LEN bytes) with scrypt N=16384
 * r=8 p=1, a new 16-byte random salt and a 32-byte key, and write
 * "scrypt$16384$8$1$<salt hex>$<key hex>" into `out` (outlen of at least
 * CRM_PASSWORD_HASH_MAX is enough). Fails with CRM_ERR_VALIDATION for an
 * empty or too long password, CRM_ERR_INTERNAL otherwise. Takes ~50 ms of
 * CPU: run it off the event loop.
 */
int
crm_password_hash(const char *password, char *out, size_t outlen,
    struct crm_error *err)
{
	unsigned char salt[CRM_SCRYPT_SALT_LEN], key[CRM_SCRYPT_KEY_LEN];
	char salthex[sizeof(salt) * 2 + 1], keyhex[sizeof(key) * 2 + 1];
	size_t len;
	int n, ok;

	ok = CRM_ERROR;
	if (outlen > 0)
		out[0] = '\0';

	if (password == NULL ||
	    (len = strnlen(password, CRM_PASSWORD_MAX_LEN + 1)) == 0) {
		crm_error_set(err, CRM_ERR_VALIDATION,
		    "A password is required.");
		goto cleanup;
	}
	if (len > CRM_PASSWORD_MAX_LEN) {
		crm_error_set(err, CRM_ERR_VALIDATION,
		    "A password is at most %d bytes.", CRM_PASSWORD_MAX_LEN);
		goto cleanup;
	}
	/* "scrypt$16384$8$1$" salt "$" key and a NUL: checked before work. */
	if (outlen < sizeof("scrypt$16384$8$1$$") + sizeof(salthex) +
		sizeof(keyhex) - 2) {
		crm_error_set(err, CRM_ERR_INTERNAL,
		    "The password hash buffer is too small.");
		goto cleanup;
	}
	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    !scrypt_derive(password, len, salt, sizeof(salt), CRM_SCRYPT_N,
		CRM_SCRYPT_R, CRM_SCRYPT_P, key)) {
		crm_error_set(err, CRM_ERR_INTERNAL,
		    "The password could not be hashed.");
		goto cleanup;
	}

	hex_encode(salt, sizeof(salt), salthex);
	hex_encode(key, sizeof(key), keyhex);
	n = snprintf(out, outlen, "scrypt$%d$%d$%d$%s$%s", CRM_SCRYPT_N,
	    CRM_SCRYPT_R, CRM_SCRYPT_P, salthex, keyhex);
	if (n < 0 || (size_t)n >= outlen) {
		out[0] = '\0';
		crm_error_set(err, CRM_ERR_INTERNAL,
		    "The password hash buffer is too small.");
		goto cleanup;
	}

	ok = CRM_OK;

cleanup:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(keyhex, sizeof(keyhex));

	return (ok);
}

/*
 * Return 1 when `password` matches the stored `encoded` hash, 0 otherwise:
 * also for NULL, an empty or over-long password, a malformed encoding or
 * parameters out of bounds (see CRM_SCRYPT_* in auth.h), which are refused
 * before any work. The keys are compared in constant time.
 */
int
crm_password_verify(const char *password, const char *encoded)
{
	struct scrypt_hash h;
	unsigned char got[CRM_SCRYPT_KEY_LEN];
	size_t len;
	int ok;

	if (password == NULL)
		return (0);
	len = strnlen(password, CRM_PASSWORD_MAX_LEN + 1);
	if (len == 0 || len > CRM_PASSWORD_MAX_LEN)
		return (0);
	if (!scrypt_parse(encoded, &h))
		return (0);

	ok = 0;
	if (scrypt_derive(password, len, h.salt, h.saltlen, h.n, h.r, h.p, got))
		ok = (CRYPTO_memcmp(got, h.key, sizeof(got)) == 0);
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(&h, sizeof(h));

	return (ok);
}

/*
 * Do the work of crm_password_verify() against a fixed hash with the
 * default parameters, and ignore the result: a login for an unknown
 * account then costs what a wrong password for a known one costs.
 */
void
crm_password_dummy_verify(const char *password)
{
	(void)crm_password_verify(password, DUMMY_HASH);
}

/* N a power of two and N, r, p, memory and work within the bounds. */
static int
scrypt_params_ok(unsigned long long n, unsigned long long r,
    unsigned long long p)
{
	if (n < CRM_SCRYPT_N_MIN || n > CRM_SCRYPT_N_MAX || (n & (n - 1)) != 0)
		return (0);
	if (r < 1 || r > CRM_SCRYPT_R_MAX || p < 1 || p > CRM_SCRYPT_P_MAX)
		return (0);
	/* n <= 2^20, r <= 32, p <= 16: none of these products overflow. */
	if (128 * n * r > CRM_SCRYPT_MEM_MAX || n * r * p > CRM_SCRYPT_WORK_MAX)
		return (0);

	return (1);
}

/*
 * Parse "scrypt$N$r$p$<salt hex>$<key hex>" strictly: plain decimals
 * without sign, spaces or leading zeros, parameters within bounds, an
 * even-length hex salt of CRM_SCRYPT_SALT_MIN..MAX bytes and a hex key of
 * exactly CRM_SCRYPT_KEY_LEN bytes, nothing after it.
 */
static int
scrypt_parse(const char *encoded, struct scrypt_hash *h)
{
	const char *s, *dollar;
	size_t len;

	if (encoded == NULL || strncmp(encoded, "scrypt$", 7) != 0)
		return (0);
	s = encoded + 7;
	if (!parse_decimal(&s, CRM_SCRYPT_N_MAX, &h->n) ||
	    !parse_decimal(&s, CRM_SCRYPT_R_MAX, &h->r) ||
	    !parse_decimal(&s, CRM_SCRYPT_P_MAX, &h->p) ||
	    !scrypt_params_ok(h->n, h->r, h->p))
		return (0);

	if ((dollar = strchr(s, '$')) == NULL)
		return (0);
	len = (size_t)(dollar - s);
	if (len % 2 != 0 || len / 2 < CRM_SCRYPT_SALT_MIN ||
	    len / 2 > CRM_SCRYPT_SALT_MAX || !hex_decode(s, len, h->salt))
		return (0);
	h->saltlen = len / 2;

	s = dollar + 1;
	if (strnlen(s, CRM_SCRYPT_KEY_LEN * 2 + 1) != CRM_SCRYPT_KEY_LEN * 2 ||
	    !hex_decode(s, CRM_SCRYPT_KEY_LEN * 2, h->key))
		return (0);

	return (1);
}

/*
 * Read a decimal number of at most 7 digits (no sign, no leading zero)
 * and no greater than `max`, followed by '$', and step past both.
 */
static int
parse_decimal(const char **sp, unsigned long long max, unsigned long long *out)
{
	const char *s;
	unsigned long long v;
	int digits;

	s = *sp;
	if (*s < '1' || *s > '9')
		return (0);
	for (v = 0, digits = 0; *s >= '0' && *s <= '9'; s++, digits++) {
		if (digits == 7)
			return (0);
		v = v * 10 + (unsigned long long)(*s - '0');
	}
	if (*s != '$' || v > max)
		return (0);

	*out = v;
	*sp = s + 1;

	return (1);
}

/* scrypt into `key` (CRM_SCRYPT_KEY_LEN bytes) with OpenSSL's KDF. */
static int
scrypt_derive(const char *password, size_t len, const unsigned char *salt,
    size_t saltlen, unsigned long long n, unsigned long long r,
    unsigned long long p, unsigned char *key)
{
	EVP_PKEY_CTX *ctx;
	size_t keylen;
	int ok;

	keylen = CRM_SCRYPT_KEY_LEN;
	ok = 0;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "SCRYPT", NULL)) == NULL)
		return (0);

	if (EVP_PKEY_derive_init(ctx) > 0 &&
	    EVP_PKEY_CTX_set1_pbe_pass(ctx, password, (int)len) > 0 &&
	    EVP_PKEY_CTX_set1_scrypt_salt(ctx, salt, (int)saltlen) > 0 &&
	    EVP_PKEY_CTX_set_scrypt_N(ctx, n) > 0 &&
	    EVP_PKEY_CTX_set_scrypt_r(ctx, r) > 0 &&
	    EVP_PKEY_CTX_set_scrypt_p(ctx, p) > 0 &&
	    EVP_PKEY_CTX_set_scrypt_maxmem_bytes(ctx, SCRYPT_MAXMEM) > 0 &&
	    EVP_PKEY_derive(ctx, key, &keylen) > 0 &&
	    keylen == CRM_SCRYPT_KEY_LEN)
		ok = 1;

	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		OPENSSL_cleanse(key, CRM_SCRYPT_KEY_LEN);

	return (ok);
}

/* --- Opaque tokens and digests ------------------------------------------ */

/*
 * Write `prefix` ("rt_" for refresh tokens, "crm_" for API keys; NULL for
 * none) and CRM_TOKEN_RANDOM_LEN characters of unpadded base64url of 32
 * random bytes into `out`. Returns 0 when `outlen` cannot hold them and a
 * NUL, or when the random generator failed; 1 otherwise.
 */
int
crm_token_random(char *out, size_t outlen, const char *prefix)
{
	unsigned char raw[32];
	size_t plen;

	if (prefix == NULL)
		prefix = "";
	plen = strlen(prefix);
	if (plen >= outlen || outlen - plen < CRM_TOKEN_RANDOM_LEN + 1)
		return (0);
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return (0);

	memcpy(out, prefix, plen);
	b64url_encode(raw, sizeof(raw), out + plen);
	OPENSSL_cleanse(raw, sizeof(raw));

	return (1);
}

/*
 * Write the SHA-256 of `len` bytes at `data` as 64 lowercase hex digits
 * and a NUL. Should the digest fail (no memory), `out` is the empty
 * string, which matches no stored hash.
 */
void
crm_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32) {
		out[0] = '\0';
		return;
	}
	hex_encode(md, 32, out);
}

/*
 * HMAC-SHA256 under `key` of the `n` strings in `parts` one after another
 * (`lens[i]` bytes each), as 64 lowercase hex digits and a NUL. CRM_ERROR
 * (and the empty string) when OpenSSL fails.
 */
int
crm_hmac_sha256_hex(const char *key, const char *const *parts,
    const size_t *lens, size_t n, char out[65])
{
	char digest[] = "SHA256";
	unsigned char md[EVP_MAX_MD_SIZE];
	OSSL_PARAM params[2];
	EVP_MAC_CTX *c;
	EVP_MAC *mac;
	size_t len, i;
	int ok;

	out[0] = '\0';
	params[0] =
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	c = NULL;
	ok = (mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) != NULL &&
	    (c = EVP_MAC_CTX_new(mac)) != NULL &&
	    EVP_MAC_init(c, (const unsigned char *)key, strlen(key), params) ==
		1;
	for (i = 0; ok && i < n; i++)
		ok = EVP_MAC_update(c, (const unsigned char *)parts[i],
			 lens[i]) == 1;
	ok = ok && EVP_MAC_final(c, md, &len, sizeof(md)) == 1 && len == 32;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(mac);
	if (!ok)
		return (CRM_ERROR);
	hex_encode(md, 32, out);

	return (CRM_OK);
}

/* --- Encodings ---------------------------------------------------------- */

/* Unpadded base64url of `len` bytes and a NUL into `out`. */
static void
b64url_encode(const unsigned char *in, size_t len, char *out)
{
	unsigned long acc;
	size_t i, n;
	int bits;

	acc = 0;
	bits = 0;
	n = 0;
	for (i = 0; i < len; i++) {
		acc = ((acc << 8) | in[i]) & 0xffff;
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[n++] = b64url_chars[(acc >> bits) & 0x3f];
		}
	}
	if (bits > 0)
		out[n++] = b64url_chars[(acc << (6 - bits)) & 0x3f];
	out[n] = '\0';
}

/*
 * Decode unpadded base64url strictly: alphabet only, no padding, no
 * impossible length, unused trailing bits zero (one text per value).
 */
static int
b64url_decode(const char *in, size_t len, unsigned char *out, size_t size,
    size_t *outlen)
{
	const char *p;
	unsigned long acc;
	size_t i, n;
	int bits;

	if (len % 4 == 1)
		return (0);
	acc = 0;
	bits = 0;
	n = 0;
	for (i = 0; i < len; i++) {
		if (in[i] == '\0' || (p = strchr(b64url_chars, in[i])) == NULL)
			return (0);
		acc = ((acc << 6) | (unsigned long)(p - b64url_chars)) & 0xffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= size)
				return (0);
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	if ((acc & ((1UL << bits) - 1)) != 0)
		return (0);

	*outlen = n;
	return (1);
}

/* Lowercase hex of `len` bytes and a NUL into `out`. */
static void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[i * 2] = digits[in[i] >> 4];
		out[i * 2 + 1] = digits[in[i] & 0x0f];
	}
	out[len * 2] = '\0';
}

/* Decode `len` (even) hex digits of either case into len / 2 bytes. */
static int
hex_decode(const char *hex, size_t len, unsigned char *out)
{
	size_t i;
	int hi, lo;
	char c;

	hi = 0;
	for (i = 0; i < len; i++) {
		c = hex[i];
		if (c >= '0' && c <= '9')
			lo = c - '0';
		else if (c >= 'a' && c <= 'f')
			lo = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			lo = c - 'A' + 10;
		else
			return (0);
		if (i % 2 == 0) {
			hi = lo;
		} else {
			out[i / 2] = (unsigned char)(hi << 4 | lo);
		}
	}

	return (1);
}
