/*
 * Idempotency-Key (draft-ietf-httpapi-idempotency-key-header, as Stripe
 * does it), the parts that need no Kore and no database: the key's
 * syntax, the request hash and the wrapper's argument list. The router
 * (api/idempotency.c) uses them; the database keeps keys and answers.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crm/idempotency.h"

#define HASH_CONTEXT "crm-idempotency-v1\n"

/*
 * Whether `key`, the header's value, is acceptable: 1 to
 * CRM_IDEM_KEY_MAX printable ASCII characters (space to tilde), kept
 * verbatim. A UUID is the usual choice.
 */
int
crm_idem_key_valid(const char *key)
{
	size_t i;

	if (key == NULL)
		return (0);
	for (i = 0; key[i] != '\0'; i++) {
		if (i >= CRM_IDEM_KEY_MAX || (unsigned char)key[i] < 0x20 ||
		    (unsigned char)key[i] > 0x7e)
			return (0);
	}

	return (i > 0);
}

/*
 * The hash of a request into `out` (hex, NUL-terminated): HMAC-SHA256
 * under `secret` (the server's JWT secret; a stored hash then reveals
 * nothing of a body, passwords included) of `method`, `path` and the body
 * as canonical JSON (keys sorted, no spaces; NULL: no body). So the same
 * request sent again, whatever its key order or white space, has the same
 * hash, and another method, path or body has another. Returns CRM_ERROR
 * when OpenSSL fails or the body cannot be encoded.
 */
int
crm_idem_request_hash(const char *secret, const char *method, const char *path,
    const json_t *body, char out[CRM_IDEM_HASH_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	char digest[] = "SHA256";
	unsigned char md[EVP_MAX_MD_SIZE];
	OSSL_PARAM params[2];
	EVP_MAC_CTX *c;
	EVP_MAC *mac;
	char *text;
	size_t len, i;
	int ok;

	out[0] = '\0';
	text = NULL;
	if (body != NULL &&
	    (text = json_dumps(body,
		 JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)) == NULL)
		return (CRM_ERROR);

	params[0] =
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	c = NULL;
	ok = (mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) != NULL &&
	    (c = EVP_MAC_CTX_new(mac)) != NULL &&
	    EVP_MAC_init(c, (const unsigned char *)secret, strlen(secret),
		params) == 1 &&
	    EVP_MAC_update(c, (const unsigned char *)HASH_CONTEXT,
		strlen(HASH_CONTEXT)) == 1 &&
	    EVP_MAC_update(c, (const unsigned char *)method, strlen(method)) ==
		1 &&
	    EVP_MAC_update(c, (const unsigned char *)"\n", 1) == 1 &&
	    EVP_MAC_update(c, (const unsigned char *)path, strlen(path)) == 1 &&
	    EVP_MAC_update(c, (const unsigned char *)"\n", 1) == 1 &&
	    (text == NULL ||
		EVP_MAC_update(c, (const unsigned char *)text, strlen(text)) ==
		    1) &&
	    EVP_MAC_final(c, md, &len, sizeof(md)) == 1 && len == 32;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(mac);
	free(text);
	if (!ok)
		return (CRM_ERROR);

	for (i = 0; i < 32; i++) {
		out[i * 2] = hex[md[i] >> 4];
		out[i * 2 + 1] = hex[md[i] & 0x0f];
	}
	out[CRM_IDEM_HASH_LEN] = '\0';

	return (CRM_OK);
}

/*
 * The `n` text parameters `values` of a statement (NULL entries are SQL
 * NULL) as a JSON array of strings and nulls, the wrapper's $4. Returns
 * a new string (free() it), or NULL when a value is not UTF-8.
 */
char *
crm_idem_args(const char *const *values, int n)
{
	json_t *a, *v;
	char *text;
	int i;

	if ((a = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < n; i++) {
		v = values[i] != NULL ? json_string(values[i]) : json_null();
		if (v == NULL || json_array_append_new(a, v) != 0) {
			json_decref(a);
			return (NULL);
		}
	}
	text = json_dumps(a, JSON_COMPACT);
	json_decref(a);

	return (text);
}
