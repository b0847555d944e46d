/*
 * Unit tests of src/auth.c. Access tokens: what we sign verifies, and each
 * attack (RFC 8725, libjwt 1.10's sharp edges in STACK-NOTES) is refused
 * on its own, against a hand-made control token that differs from it in
 * that one respect and is accepted. Passwords: round trip, the demo seed's
 * `openssl kdf` format, tampered encodings refused before any work.
 * Opaque tokens and SHA-256.
 */
#include <stdlib.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "check.h"
#include "crm/auth.h"

#define SECRET "unit-test-secret-0123456789abcdef-xyz"
#define OTHER_SECRET "another-secret-0123456789abcdef-xyz!"
#define NOW 1767225600LL /* 2026-01-01T00:00:00Z */
#define SUB "6f1c2a4e-8b9d-4c3e-a1f2-0123456789ab"
#define ORG "0d3e5b7a-1c2f-4a6b-9e8d-fedcba987654"
#define GENERIC "The access token is invalid or expired."
#define H256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* An RSA public key: the RS256 -> HS256 key-confusion secret. */
static const char pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCEe9BgRuo7zebnz97OiHGCGoj\n"
    "b/3Mk9BvHqWlA33wssmT/iR/WTBwSq1OokHfcRvPaWNUEJK7X62K328WWI3uaQJE\n"
    "zxyy4ZEPxj1UR+HjqAdyOSCi0L2ORa7LJTsQxskMtk/1pPzpmvfTmfOsHPTDn6ct\n"
    "ONWO39a1t2iIvYzwQwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

static const struct crm_jwt_config cfg = {SECRET, "crm-api", "crm-api", 900,
    30};

/* Our own base64url (no padding), independent of src/auth.c. */
static void
b64url(const void *data, size_t len, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				"abcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *in = data;
	unsigned long acc = 0;
	size_t i, n = 0;
	int bits = 0;

	for (i = 0; i < len; i++) {
		acc = ((acc << 8) | in[i]) & 0xffff;
		for (bits += 8; bits >= 6; bits -= 6)
			out[n++] = a[(acc >> (bits - 6)) & 0x3f];
	}
	if (bits > 0)
		out[n++] = a[(acc << (6 - bits)) & 0x3f];
	out[n] = '\0';
}

/* Decode the first segment of a token into `out` (lenient, for tests). */
static size_t
unb64url(const char *in, size_t len, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				"abcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned long acc = 0;
	size_t i, n = 0;
	int bits = 0;

	for (i = 0; i < len; i++) {
		acc = ((acc << 6) | (unsigned long)(strchr(a, in[i]) - a)) &
		    0xffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)(acc >> bits);
		}
	}
	out[n] = '\0';
	return (n);
}

/*
 * A token made by hand from an encoded header segment and payload text,
 * signed HMAC-`md` with `key`; md NULL leaves the signature empty
 * ("h.p."). A new string.
 */
static char *
forge_seg(const char *hseg, const char *payload, const char *key,
    const EVP_MD *md)
{
	unsigned char sig[EVP_MAX_MD_SIZE];
	unsigned int siglen = 0;
	size_t hlen = strlen(hseg), plen = strlen(payload);
	char *tok, *s;

	tok = malloc(hlen + (plen + sizeof(sig)) * 2 + 8);
	strcpy(tok, hseg);
	s = tok + hlen;
	*s++ = '.';
	b64url(payload, plen, s);
	if (md != NULL)
		HMAC(md, key, (int)strlen(key), (const unsigned char *)tok,
		    strlen(tok), sig, &siglen);
	s = tok + strlen(tok);
	*s++ = '.';
	b64url(sig, siglen, s);
	return (tok);
}

/* forge_seg() with header text. */
static char *
forge(const char *header, const char *payload, const char *key,
    const EVP_MD *md)
{
	char hseg[4096];

	b64url(header, strlen(header), hseg);
	return (forge_seg(hseg, payload, key, md));
}

/* forge() with a claims object (stolen) instead of text. */
static char *
forge_claims(const char *header, json_t *claims, const char *key,
    const EVP_MD *md)
{
	char *text, *tok;

	text = json_dumps(claims, JSON_COMPACT);
	json_decref(claims);
	tok = forge(header, text, key, md);
	free(text);
	return (tok);
}

/* The claims we issue, valid at NOW; tests change one thing each. */
static json_t *
claims(void)
{
	return (json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
	    "iss", "crm-api", "aud", "crm-api", "sub", SUB, "org", ORG, "role",
	    "sales_rep", "jti", "abc-DEF_123", "iat", (json_int_t)NOW, "nbf",
	    (json_int_t)NOW, "exp", (json_int_t)(NOW + 600)));
}

/* claims() with member `name` replaced by `v` (stolen), or removed. */
static json_t *
claims_with(const char *name, json_t *v)
{
	json_t *c = claims();

	if (v == NULL)
		json_object_del(c, name);
	else
		json_object_set_new(c, name, v);
	return (c);
}

/*
 * Verify `tok` (freed here) with `conf` at `now`. On failure also checks
 * the error is the one generic 401 and that no claim leaked into `out`.
 */
static int
verify_with(const struct crm_jwt_config *conf, char *tok, long long now)
{
	static const struct crm_claims zero;
	struct crm_claims out;
	struct crm_error err;
	int rc;

	crm_error_init(&err);
	rc = crm_jwt_verify(conf, tok, now, &out, &err);
	if (rc != CRM_OK) {
		CHECK(err.kind == CRM_ERR_UNAUTHORIZED);
		CHECK_STR(err.detail, GENERIC);
		CHECK(memcmp(&out, &zero, sizeof(out)) == 0);
	}
	crm_error_cleanup(&err);
	free(tok);
	return (rc);
}

static int
verify(char *tok)
{
	return (verify_with(&cfg, tok, NOW));
}

/* A hand-made HS256 token with our secret and these claims. */
static int
verify_claims(json_t *c)
{
	return (verify(forge_claims(H256, c, SECRET, EVP_sha256())));
}

static void
test_sign_verify(void)
{
	struct crm_claims c, out;
	struct crm_error err;
	char *tok, *dot, head[256];
	json_t *h;

	crm_error_init(&err);
	memset(&c, 0, sizeof(c));
	strcpy(c.sub, SUB);
	strcpy(c.org, ORG);
	strcpy(c.role, "sales_manager");
	CHECK(crm_jwt_sign(&cfg, &c, NOW, &tok, &err) == CRM_OK);
	CHECK(c.iat == NOW && c.nbf == NOW && c.exp == NOW + 900);
	CHECK(strlen(c.jti) == 22);

	/* The header is exactly {"alg":"HS256","typ":"JWT"}. */
	dot = strchr(tok, '.');
	CHECK(dot != NULL && (size_t)(dot - tok) < sizeof(head));
	head[0] = '\0';
	if (dot != NULL && (size_t)(dot - tok) < sizeof(head))
		unb64url(tok, (size_t)(dot - tok), head);
	h = json_loads(head, JSON_REJECT_DUPLICATES, NULL);
	CHECK(h != NULL && json_object_size(h) == 2);
	CHECK_STR(json_string_value(json_object_get(h, "alg")), "HS256");
	CHECK_STR(json_string_value(json_object_get(h, "typ")), "JWT");
	json_decref(h);

	CHECK(crm_jwt_verify(&cfg, tok, NOW + 10, &out, &err) == CRM_OK);
	CHECK_STR(out.sub, SUB);
	CHECK_STR(out.org, ORG);
	CHECK_STR(out.role, "sales_manager");
	CHECK_STR(out.jti, c.jti);
	CHECK(out.iat == NOW && out.nbf == NOW && out.exp == NOW + 900);

	/* Expiry with 30 s leeway: accepted until exp + 29, not at exp + 30. */
	CHECK(crm_jwt_verify(&cfg, tok, NOW + 929, &out, &err) == CRM_OK);
	CHECK(crm_jwt_verify(&cfg, tok, NOW + 930, &out, &err) == CRM_ERROR);
	free(tok);

	/* Two tokens for the same user differ (random jti). */
	CHECK(crm_jwt_sign(&cfg, &c, NOW, &tok, &err) == CRM_OK);
	CHECK(strcmp(c.jti, out.jti) != 0);
	free(tok);
	crm_error_cleanup(&err);
}

static void
test_sign_refusals(void)
{
	struct crm_jwt_config bad;
	struct crm_claims c;
	struct crm_error err;
	char *tok = NULL;

	crm_error_init(&err);
	memset(&c, 0, sizeof(c));
	strcpy(c.sub, SUB);
	strcpy(c.org, ORG);
	strcpy(c.role, "admin");

	bad = cfg;
	bad.secret = "0123456789abcdef0123456789abcde"; /* 31 bytes */
	CHECK(crm_jwt_sign(&bad, &c, NOW, &tok, &err) == CRM_ERROR);
	CHECK(tok == NULL && err.kind == CRM_ERR_INTERNAL);
	bad = cfg;
	bad.secret = NULL;
	CHECK(crm_jwt_sign(&bad, &c, NOW, &tok, &err) == CRM_ERROR);
	bad = cfg;
	bad.ttl = 0;
	CHECK(crm_jwt_sign(&bad, &c, NOW, &tok, &err) == CRM_ERROR);
	bad.ttl = CRM_JWT_MAX_LIFETIME + 1;
	CHECK(crm_jwt_sign(&bad, &c, NOW, &tok, &err) == CRM_ERROR);
	strcpy(c.role, "root");
	CHECK(crm_jwt_sign(&cfg, &c, NOW, &tok, &err) == CRM_ERROR);
	strcpy(c.role, "admin");
	strcpy(c.sub, "42");
	CHECK(crm_jwt_sign(&cfg, &c, NOW, &tok, &err) == CRM_ERROR);
	CHECK(tok == NULL);
	crm_error_cleanup(&err);
}

/* Times: expired, not yet valid, issued in the future, lifetime. */
static void
test_times(void)
{
	json_t *c;

	CHECK(verify_claims(claims()) == CRM_OK); /* the control */
	CHECK(verify(forge_claims("{\"alg\":\"HS256\"}", claims(), SECRET,
		  EVP_sha256())) == CRM_OK); /* typ is optional */
	CHECK(verify_claims(claims_with("nbf", NULL)) == CRM_OK);

	c = claims_with("exp", json_integer(NOW - 31));
	json_object_set_new(c, "iat", json_integer(NOW - 600));
	json_object_set_new(c, "nbf", json_integer(NOW - 600));
	CHECK(verify_claims(c) == CRM_ERROR); /* expired beyond leeway */
	CHECK(verify_claims(claims_with("nbf", json_integer(NOW + 31))) ==
	    CRM_ERROR); /* not yet valid */
	CHECK(verify_claims(claims_with("nbf", json_integer(NOW + 30))) ==
	    CRM_OK); /* within leeway */
	c = claims_with("iat", json_integer(NOW + 31));
	json_object_del(c, "nbf");
	CHECK(verify_claims(c) == CRM_ERROR); /* issued in the future */
	CHECK(verify_claims(claims_with("exp",
		  json_integer(NOW + CRM_JWT_MAX_LIFETIME + 1))) == CRM_ERROR);
	CHECK(verify_claims(claims_with("exp",
		  json_integer(NOW + CRM_JWT_MAX_LIFETIME))) == CRM_OK);
	c = claims_with("iat", json_integer(NOW + 20)); /* within leeway */
	json_object_set_new(c, "nbf", json_integer(NOW + 20));
	CHECK(verify_claims(c) == CRM_OK);
	c = claims_with("iat", json_integer(NOW + 20));
	json_object_set_new(c, "exp", json_integer(NOW + 10));
	json_object_del(c, "nbf");
	CHECK(verify_claims(c) == CRM_ERROR); /* exp before iat */

	/* Types: missing, string, real; out-of-range integers. */
	CHECK(verify_claims(claims_with("exp", NULL)) == CRM_ERROR);
	CHECK(verify_claims(claims_with("iat", NULL)) == CRM_ERROR);
	CHECK(verify_claims(claims_with("exp", json_string("1767226200"))) ==
	    CRM_ERROR);
	CHECK(verify_claims(claims_with("exp", json_real(1767226200.0))) ==
	    CRM_ERROR);
	CHECK(verify(forge(H256,
		  "{\"iss\":\"crm-api\",\"aud\":\"crm-api\",\"sub\":\"" SUB
		  "\",\"org\":\"" ORG "\",\"role\":\"admin\",\"jti\":\"j\","
		  "\"iat\":1767225600,\"exp\":1767226200.5}",
		  SECRET, EVP_sha256())) == CRM_ERROR); /* exp a float */
	CHECK(verify_claims(claims_with("nbf", json_string("1767225600"))) ==
	    CRM_ERROR);
	CHECK(verify_claims(claims_with("nbf", json_real(1767225600.0))) ==
	    CRM_ERROR);
	CHECK(verify_claims(claims_with("iat", json_real(1767225600.0))) ==
	    CRM_ERROR);
	CHECK(verify_claims(claims_with("iat", json_true())) == CRM_ERROR);
	c = claims_with("exp", json_integer(9223372036854775807LL));
	json_object_set_new(c, "iat", json_integer(-9223372036854775807LL));
	CHECK(verify_claims(c) == CRM_ERROR); /* no overflow, no UB */
}

/* Signature and algorithm attacks. */
static void
test_algorithms(void)
{
	struct crm_jwt_config pemcfg;
	jwt_t *j, *dec;
	char *tok, *text;
	json_t *c;

	CHECK(verify(forge_claims(H256, claims(), OTHER_SECRET,
		  EVP_sha256())) == CRM_ERROR); /* wrong key */
	/* alg none, empty signature: libjwt alone accepts it without a key. */
	tok = forge_claims("{\"alg\":\"none\"}", claims(), "", NULL);
	dec = NULL;
	CHECK(jwt_decode(&dec, tok, NULL, 0) == 0 && dec != NULL);
	jwt_free(dec);
	CHECK(verify(tok) == CRM_ERROR);
	CHECK(verify(forge_claims("{\"alg\":\"none\",\"typ\":\"JWT\"}",
		  claims(), SECRET, EVP_sha256())) == CRM_ERROR);
	CHECK(verify(forge_claims("{\"alg\":\"hs256\",\"typ\":\"JWT\"}",
		  claims(), SECRET, EVP_sha256())) == CRM_ERROR);
	CHECK(verify(forge_claims("{\"alg\":\"HS384\",\"typ\":\"JWT\"}",
		  claims(), SECRET, EVP_sha384())) == CRM_ERROR);

	/*
	 * HS512 with our own secret, made by libjwt: refused, though libjwt
	 * alone accepts it with our key (the premise, STACK-NOTES).
	 */
	CHECK(jwt_new(&j) == 0);
	c = claims();
	text = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	CHECK(text != NULL && jwt_add_grants_json(j, text) == 0);
	free(text);
	CHECK(jwt_set_alg(j, JWT_ALG_HS512, (const unsigned char *)SECRET,
		  (int)strlen(SECRET)) == 0);
	tok = jwt_encode_str(j);
	dec = NULL;
	CHECK(tok != NULL &&
	    jwt_decode(&dec, tok, (const unsigned char *)SECRET,
		(int)strlen(SECRET)) == 0);
	jwt_free(dec);
	CHECK(tok != NULL && verify(tok) == CRM_ERROR);
	/* The same claims through libjwt as HS256: the control, accepted. */
	CHECK(jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)SECRET,
		  (int)strlen(SECRET)) == 0);
	tok = jwt_encode_str(j);
	CHECK(tok != NULL && verify(tok) == CRM_OK);
	jwt_free(j);

	/* RS256/HS256 confusion: HMAC with a PEM public key as secret. */
	pemcfg = cfg;
	pemcfg.secret = pem;
	tok = forge_claims("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", claims(), pem,
	    EVP_sha256());
	CHECK(verify_with(&cfg, strdup(tok), NOW) == CRM_ERROR);
	CHECK(verify_with(&pemcfg, tok, NOW) == CRM_ERROR);

	/* Header: crit, bad typ, duplicate alg, not an object, not JSON. */
	CHECK(verify(forge_claims("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"crit\":"
				  "[\"exp\"]}",
		  claims(), SECRET, EVP_sha256())) == CRM_ERROR);
	CHECK(verify(forge_claims("{\"alg\":\"HS256\",\"typ\":\"JOSE\"}",
		  claims(), SECRET, EVP_sha256())) == CRM_ERROR);
	CHECK(verify(forge_claims("{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
		  claims(), SECRET, EVP_sha256())) == CRM_ERROR);
	CHECK(verify(forge_claims("[\"HS256\"]", claims(), SECRET,
		  EVP_sha256())) == CRM_ERROR);
	CHECK(verify(forge_claims("{alg:HS256}", claims(), SECRET,
		  EVP_sha256())) == CRM_ERROR);
}

/* Claims: iss, aud, sub, org, role, jti, duplicates, payload shape. */
static void
test_claims(void)
{
	json_t *aud;

	CHECK(verify_claims(claims_with("iss", json_string("evil"))) ==
	    CRM_ERROR);
	CHECK(verify_claims(claims_with("iss", NULL)) == CRM_ERROR);
	CHECK(verify_claims(claims_with("aud", json_string("other-api"))) ==
	    CRM_ERROR);
	CHECK(verify_claims(claims_with("aud", NULL)) == CRM_ERROR);
	aud = json_pack("[s]", "crm-api");
	CHECK(verify_claims(claims_with("aud", aud)) == CRM_ERROR);
	CHECK(verify_claims(claims_with("role", json_string("root"))) ==
	    CRM_ERROR); /* unknown role */
	CHECK(verify_claims(claims_with("role", json_string("Admin"))) ==
	    CRM_ERROR);
	CHECK(verify_claims(claims_with("role", json_string("integration"))) ==
	    CRM_OK);
	CHECK(verify_claims(claims_with("sub", json_string("42"))) ==
	    CRM_ERROR); /* sub not a UUID */
	CHECK(verify_claims(claims_with("sub",
		  json_string("6f1c2a4e-8b9d-4c3e-a1f2-0123456789aZ"))) ==
	    CRM_ERROR);
	CHECK(verify_claims(claims_with("sub", json_integer(42))) == CRM_ERROR);
	CHECK(verify_claims(claims_with("org", json_string("acme"))) ==
	    CRM_ERROR);
	CHECK(verify_claims(claims_with("org", NULL)) == CRM_ERROR);
	CHECK(verify_claims(claims_with("jti", NULL)) == CRM_ERROR);
	CHECK(verify_claims(claims_with("jti", json_string(""))) == CRM_ERROR);
	CHECK(
	    verify_claims(claims_with("jti", json_string("a b"))) == CRM_ERROR);
	CHECK(
	    verify_claims(claims_with("jti",
		json_string("0123456789012345678901234567890123456789012345678"
			    "90123456789abcd"))) == CRM_ERROR); /* 64 */
	CHECK(
	    verify_claims(claims_with("jti",
		json_string("0123456789012345678901234567890123456789012345678"
			    "90123456789abc"))) == CRM_OK); /* 63 */

	/* A duplicate claim (libjwt keeps the last: "admin"). */
	CHECK(verify(forge(H256,
		  "{\"iss\":\"crm-api\",\"aud\":\"crm-api\",\"sub\":\"" SUB
		  "\",\"org\":\"" ORG "\",\"role\":\"sales_rep\",\"jti\":\"j\","
		  "\"iat\":1767225600,\"exp\":1767226200,\"role\":\"admin\"}",
		  SECRET, EVP_sha256())) == CRM_ERROR);
	CHECK(verify(forge(H256, "[1767226200]", SECRET, EVP_sha256())) ==
	    CRM_ERROR);
	CHECK(verify(forge(H256, "{\"exp\":1767226200", SECRET,
		  EVP_sha256())) == CRM_ERROR);
}

/*
 * A valid token signed with our secret, padded by a 1000-byte "kid"
 * header and a "pad" claim to `want` bytes or up to 3 more, each of its
 * segments decoding to well under CRM_JWT_MAX_LEN bytes.
 */
static char *
oversized(size_t want)
{
	char head[1100], *pad, *tok;
	size_t n, len;
	json_t *c;

	memset(head, 0, sizeof(head));
	strcpy(head, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"");
	memset(head + strlen(head), 'k', 1000);
	strcat(head, "\"}");
	pad = calloc(1, want);
	for (n = 0, tok = NULL;; n++) {
		free(tok);
		memset(pad, 'p', n);
		c = claims();
		json_object_set_new(c, "pad", json_string(pad));
		tok = forge_claims(head, c, SECRET, EVP_sha256());
		len = strlen(tok);
		if (len >= want)
			break;
		if (n == 0 && want > len + 8)
			n = (want - len) * 3 / 4 - 6; /* skip ahead */
	}
	free(pad);
	return (tok);
}

/*
 * A valid token whose header segment, {"alg":"HS256" } (16 bytes: 4
 * unused bits in the last character), has those bits set when `flip`;
 * signed over the text as sent, so only our decoder can object.
 */
static char *
noncanonical(int flip)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				"abcdefghijklmnopqrstuvwxyz0123456789-_";
	char hseg[64], *text, *tok, *last;
	json_t *c;

	b64url("{\"alg\":\"HS256\" }", 16, hseg);
	last = hseg + strlen(hseg) - 1;
	if (flip)
		*last = a[strchr(a, *last) - a + 1];
	c = claims();
	text = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	tok = forge_seg(hseg, text, SECRET, EVP_sha256());
	free(text);
	return (tok);
}

/* Shape: truncation, extra segments, size, garbage, config. */
static void
test_shape(void)
{
	struct crm_jwt_config bad;
	char *tok, *pad;
	size_t len;

	tok = forge_claims(H256, claims(), SECRET, EVP_sha256());
	len = strlen(tok);
	tok[len - 1] = '\0'; /* last character dropped */
	CHECK(verify(strdup(tok)) == CRM_ERROR);
	*strrchr(tok, '.') = '\0'; /* signature segment dropped */
	CHECK(verify(strdup(tok)) == CRM_ERROR);
	strcat(tok, "."); /* empty signature */
	CHECK(verify(tok) == CRM_ERROR);
	tok = forge_claims(H256, claims(), SECRET, EVP_sha256());
	pad = malloc(strlen(tok) + 3);
	sprintf(pad, "%s.x", tok); /* four segments */
	CHECK(verify(pad) == CRM_ERROR);
	pad = malloc(strlen(tok) + 2);
	sprintf(pad, "%s=", tok); /* padding */
	CHECK(verify(pad) == CRM_ERROR);
	free(tok);

	/*
	 * Correctly signed and otherwise valid, but over CRM_JWT_MAX_LEN:
	 * refused, though each segment alone would fit. The control is the
	 * same token a little shorter.
	 */
	CHECK(verify(oversized(CRM_JWT_MAX_LEN + 1)) == CRM_ERROR);
	CHECK(verify(oversized(CRM_JWT_MAX_LEN + 100)) == CRM_ERROR);
	CHECK(verify(oversized(CRM_JWT_MAX_LEN - 100)) == CRM_OK);

	/* Base64url that is not canonical (unused bits set): refused. */
	CHECK(verify(noncanonical(0)) == CRM_OK); /* the control */
	CHECK(verify(noncanonical(1)) == CRM_ERROR);

	CHECK(verify(strdup("")) == CRM_ERROR);
	CHECK(verify(NULL) == CRM_ERROR);
	CHECK(verify(strdup("garbage")) == CRM_ERROR);
	CHECK(verify(strdup("a.b.c")) == CRM_ERROR);
	CHECK(verify(strdup("..")) == CRM_ERROR);
	CHECK(verify(strdup("eyJ hbGc.eyJ.sig")) == CRM_ERROR);
	CHECK(verify(strdup("%%%.%%%.%%%")) == CRM_ERROR);

	/* The config: no secret, an empty one, a short one (even when the
	 * token is signed with that very secret), no issuer. */
	bad = cfg;
	bad.secret = NULL;
	CHECK(verify_with(&bad,
		  forge_claims("{\"alg\":\"none\"}", claims(), "", NULL),
		  NOW) == CRM_ERROR);
	CHECK(verify_with(&bad,
		  forge_claims(H256, claims(), SECRET, EVP_sha256()),
		  NOW) == CRM_ERROR);
	bad.secret = "";
	CHECK(verify_with(&bad,
		  forge_claims("{\"alg\":\"none\"}", claims(), "", NULL),
		  NOW) == CRM_ERROR);
	bad.secret = "0123456789abcdef0123456789abcde"; /* 31 bytes */
	CHECK(verify_with(&bad,
		  forge_claims(H256, claims(), bad.secret, EVP_sha256()),
		  NOW) == CRM_ERROR);
	bad = cfg;
	bad.issuer = NULL;
	CHECK(verify_with(&bad,
		  forge_claims(H256, claims(), SECRET, EVP_sha256()),
		  NOW) == CRM_ERROR);
}

/* Monotonic milliseconds. */
static double
ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6);
}

/* `openssl kdf` with the demo seed's options (.dev/lib.sh). */
static const char demo[] =
    "scrypt$16384$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385";

/* `openssl kdf ... -kdfopt n:1024 -kdfopt r:4 -kdfopt p:2`. */
static const char cheap[] =
    "scrypt$1024$4$2$ffeeddccbbaa99887766554433221100$"
    "fc843ebe33e4c580b7b4c122adb369df2d76306e4317520e30f7439bcc062bbd";

/* Malformed or out-of-bounds stored hashes, all refused without work. */
static const char *const malformed[] = {"", "scrypt",
    "bcrypt$16384$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$16384$8$1$00112233445566778899aabbccddeeff",
    "scrypt$16384$8$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$16384$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385$",
    "scrypt$16384$8$1$00112233445566778899aabbccddeefg$" /* bad hex */
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$16384$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a7838x",
    "scrypt$16384$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a783",
    "scrypt$16384$8$1$0011223344556677$" /* 8-byte salt */
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$16384$8$1$00112233445566778899aabbccddeef$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$16383$8$1$00112233445566778899aabbccddeeff$" /* not 2^k */
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$0$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$512$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$2097152$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$1073741824$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$18446744073709568000$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$1048576$8$1$00112233445566778899aabbccddeeff$" /* 1 GiB */
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$131072$8$1$00112233445566778899aabbccddeeff$" /* 128 MiB */
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$65536$8$4$00112233445566778899aabbccddeeff$" /* 16x work */
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$016384$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$+16384$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$ 16384$8$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$16384$0$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$16384$33$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$16384$4294967297$1$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$16384$8$0$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    "scrypt$16384$8$17$00112233445566778899aabbccddeeff$"
    "58be126a375f7a9a9e9ef110324eae61fcf8ab745af2e95129b0f12fd7a78385",
    NULL};

/* `openssl kdf`, n:1024 r:1 p:1, of 1024 and of 1025 'x's. */
static const char x1024[] =
    "scrypt$1024$1$1$0f1e2d3c4b5a69788796a5b4c3d2e1f0$"
    "f1270df4fee8012f427e645129a1d8db82369065f4237ff758ca13cd6e30207d";

static const char x1025[] =
    "scrypt$1024$1$1$0f1e2d3c4b5a69788796a5b4c3d2e1f0$"
    "b19da7be5bcb0519b4f993c0264c2ae7cb6d7d3cc543507100d0eee2fb356ffa";

static void
test_passwords(void)
{
	struct crm_error err;
	char a[CRM_PASSWORD_HASH_MAX], b[CRM_PASSWORD_HASH_MAX];
	char small[100], *big;
	double t0, one;
	size_t i;

	crm_error_init(&err);
	CHECK(crm_password_hash("correct horse battery", a, sizeof(a), &err) ==
	    CRM_OK);
	CHECK(strlen(a) == 114 && strncmp(a, "scrypt$16384$8$1$", 17) == 0);
	CHECK(a[49] == '$' && strspn(a + 17, "0123456789abcdef$") == 97);
	CHECK(crm_password_verify("correct horse battery", a) == 1);
	CHECK(crm_password_verify("correct horse batterY", a) == 0);
	CHECK(crm_password_hash("correct horse battery", b, sizeof(b), &err) ==
	    CRM_OK);
	CHECK(strcmp(a, b) != 0); /* a new salt each time */

	/* The demo seed's hash, made by the openssl CLI, verifies. */
	t0 = ms();
	CHECK(crm_password_verify("demo-password-2026", demo) == 1);
	one = ms() - t0;
	/* Parameters are read from the encoding (cheap ones, fast). */
	CHECK(crm_password_verify("cheap-params-pw", cheap) == 1);
	CHECK(crm_password_verify("cheap-params-pW", cheap) == 0);

	/*
	 * Malformed or out-of-bounds encodings: 0, and no scrypt work done:
	 * all of them together take less time than one real verification.
	 */
	t0 = ms();
	for (i = 0; malformed[i] != NULL; i++) {
		if (crm_password_verify("demo-password-2026", malformed[i]) !=
		    0) {
			fprintf(stderr, "accepted: %s\n", malformed[i]);
			CHECK(0);
		}
	}
	CHECK(ms() - t0 < one);
	CHECK(crm_password_verify("demo-password-2026", NULL) == 0);
	CHECK(crm_password_verify(NULL, demo) == 0);
	CHECK(crm_password_verify("", demo) == 0);

	/* Length limits: CRM_PASSWORD_MAX_LEN + 1 is refused. */
	big = malloc(CRM_PASSWORD_MAX_LEN + 2);
	memset(big, 'x', CRM_PASSWORD_MAX_LEN + 1);
	big[CRM_PASSWORD_MAX_LEN + 1] = '\0';
	CHECK(crm_password_hash(big, a, sizeof(a), &err) == CRM_ERROR);
	CHECK(err.kind == CRM_ERR_VALIDATION);
	CHECK(crm_password_verify(big, demo) == 0);
	CHECK(crm_password_verify(big, x1025) == 0); /* though it matches */
	CHECK(crm_password_verify(big, x1024) == 0); /* not truncated */
	big[CRM_PASSWORD_MAX_LEN] = '\0';
	CHECK(crm_password_verify(big, x1024) == 1);
	free(big);
	CHECK(crm_password_hash("", a, sizeof(a), &err) == CRM_ERROR);
	CHECK(crm_password_hash(NULL, a, sizeof(a), &err) == CRM_ERROR);
	CHECK(crm_password_hash("long enough", small, 114, &err) ==
	    CRM_ERROR); /* no room for the NUL */

	crm_password_dummy_verify("whatever");
	crm_password_dummy_verify(NULL);
	crm_error_cleanup(&err);
}

static void
test_tokens(void)
{
	char a[64], b[64], h[65];
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz0123456789-_";

	CHECK(crm_token_random(a, sizeof(a), "rt_"));
	CHECK(crm_token_random(b, sizeof(b), "rt_"));
	CHECK(strlen(a) == 3 + CRM_TOKEN_RANDOM_LEN);
	CHECK(strncmp(a, "rt_", 3) == 0);
	CHECK(strspn(a + 3, alphabet) == CRM_TOKEN_RANDOM_LEN);
	CHECK(strcmp(a, b) != 0);
	CHECK(crm_token_random(a, sizeof(a), "crm_"));
	CHECK(strlen(a) == 47 && strncmp(a, "crm_", 4) == 0);
	CHECK(strspn(a + 4, alphabet) == CRM_TOKEN_RANDOM_LEN);
	CHECK(crm_token_random(a, 4 + CRM_TOKEN_RANDOM_LEN + 1, "crm_"));
	CHECK(!crm_token_random(a, 4 + CRM_TOKEN_RANDOM_LEN, "crm_"));
	CHECK(!crm_token_random(a, 2, "crm_"));
	CHECK(crm_token_random(a, sizeof(a), NULL));
	CHECK(strlen(a) == CRM_TOKEN_RANDOM_LEN);

	crm_sha256_hex("abc", 3, h);
	CHECK_STR(h,
	    "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	crm_sha256_hex("", 0, h);
	CHECK_STR(h,
	    "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");

	CHECK(crm_role_valid("sales_manager"));
	CHECK(!crm_role_valid("superuser"));
	CHECK(!crm_role_valid(NULL));
}

int
main(void)
{
	test_sign_verify();
	test_sign_refusals();
	test_times();
	test_algorithms();
	test_claims();
	test_shape();
	test_passwords();
	test_tokens();
	CHECK_DONE();
}
