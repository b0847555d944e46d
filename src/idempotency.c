/*
 * Idempotency-Key (draft-ietf-httpapi-idempotency-key-header, as Stripe
 * does it), the parts that need no Kore and no database: the key's
 * syntax, the request hash and the wrapper's argument list. The router
 * (api/idempotency.c) uses them; the database keeps keys and answers.
 */
#include <stdlib.h>
#include <string.h>

#include "crm/auth.h"
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
	const char *parts[6];
	size_t lens[6], n, i;
	char *text;
	int ok;

	out[0] = '\0';
	text = NULL;
	if (body != NULL &&
	    (text = json_dumps(body,
		 JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)) == NULL)
		return (CRM_ERROR);

	n = 0;
	parts[n++] = HASH_CONTEXT;
	parts[n++] = method;
	parts[n++] = "\n";
	parts[n++] = path;
	parts[n++] = "\n";
	if (text != NULL)
		parts[n++] = text;
	for (i = 0; i < n; i++)
		lens[i] = strlen(parts[i]);
	ok = crm_hmac_sha256_hex(secret, parts, lens, n, out);
	free(text);

	return (ok);
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
