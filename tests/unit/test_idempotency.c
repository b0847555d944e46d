/*
 * Unit tests of src/idempotency.c: the key's syntax, the request hash
 * (stable across key order and white space, different for another
 * method, path, body or secret, computed by HMAC-SHA256 as documented),
 * and the wrapper's argument list.
 */
#include <stdlib.h>

#include "check.h"
#include "crm/idempotency.h"

#define SECRET "test-secret-0123456789abcdef0123456789"

static void
test_keys(void)
{
	char key[CRM_IDEM_KEY_MAX + 2];

	CHECK(crm_idem_key_valid("8e03978e-40d5-43e8-bc93-6894a57f9324"));
	CHECK(crm_idem_key_valid("order 2026/12/01 #1 ~!"));
	CHECK(crm_idem_key_valid(" "));
	CHECK(!crm_idem_key_valid(""));
	CHECK(!crm_idem_key_valid(NULL));
	CHECK(!crm_idem_key_valid("tab\there"));
	CHECK(!crm_idem_key_valid("del\x7f"));
	CHECK(!crm_idem_key_valid("订单-1"));

	memset(key, 'k', CRM_IDEM_KEY_MAX);
	key[CRM_IDEM_KEY_MAX] = '\0';
	CHECK(crm_idem_key_valid(key));
	key[CRM_IDEM_KEY_MAX] = 'k';
	key[CRM_IDEM_KEY_MAX + 1] = '\0';
	CHECK(!crm_idem_key_valid(key));
}

static json_t *
parse(const char *text)
{
	return (json_loads(text, 0, NULL));
}

static void
test_hashes(void)
{
	char a[CRM_IDEM_HASH_LEN + 1], b[CRM_IDEM_HASH_LEN + 1];
	json_t *one, *same, *other;

	one = parse("{\"name\": \"四川糖酒\", \"tags\": [\"A\", \"B\"], "
		    "\"n\": 1}");
	same = parse("{\"n\":1,\"tags\":[\"A\",\"B\"],\"name\":\"四川糖酒\"}");
	other = parse("{\"name\": \"四川糖酒\", \"tags\": [\"B\", \"A\"], "
		      "\"n\": 1}");

	CHECK(crm_idem_request_hash(SECRET, "POST", "/v1/customers", one, a) ==
	    CRM_OK);
	CHECK(strlen(a) == CRM_IDEM_HASH_LEN);
	CHECK(strspn(a, "0123456789abcdef") == CRM_IDEM_HASH_LEN);
	CHECK(crm_idem_request_hash(SECRET, "POST", "/v1/customers", same, b) ==
	    CRM_OK);
	CHECK_STR(a, b);

	CHECK(crm_idem_request_hash(SECRET, "POST", "/v1/customers", other,
		  b) == CRM_OK);
	CHECK(strcmp(a, b) != 0);
	CHECK(crm_idem_request_hash(SECRET, "POST", "/v1/leads", one, b) ==
	    CRM_OK);
	CHECK(strcmp(a, b) != 0);
	CHECK(crm_idem_request_hash(SECRET, "PUT", "/v1/customers", one, b) ==
	    CRM_OK);
	CHECK(strcmp(a, b) != 0);
	CHECK(crm_idem_request_hash("another-secret-0123456789abcdef012",
		  "POST", "/v1/customers", one, b) == CRM_OK);
	CHECK(strcmp(a, b) != 0);

	/* No body and an empty one are different requests. */
	CHECK(crm_idem_request_hash(SECRET, "POST", "/v1/quotes/x/send", NULL,
		  a) == CRM_OK);
	json_decref(other);
	other = json_object();
	CHECK(crm_idem_request_hash(SECRET, "POST", "/v1/quotes/x/send", other,
		  b) == CRM_OK);
	CHECK(strcmp(a, b) != 0);

	/*
	 * The documented construction: HMAC-SHA256(secret,
	 * "crm-idempotency-v1\nPOST\n/p\n{}"), from Python's hmac module.
	 */
	CHECK(crm_idem_request_hash(SECRET, "POST", "/p", other, a) == CRM_OK);
	CHECK_STR(a,
	    "a44910f3a88c7043d2877db071912b10d22cc9fda94400870f5246317decf8d8");

	json_decref(one);
	json_decref(same);
	json_decref(other);
}

static void
test_args(void)
{
	const char *values[] = {"{\"user\":\"u\"}", NULL, "a \"quoted\" \\ 值"};
	const char *bad[] = {"\xff\xfe"};
	char *text;

	text = crm_idem_args(values, 3);
	CHECK_STR(text,
	    "[\"{\\\"user\\\":\\\"u\\\"}\",null,"
	    "\"a \\\"quoted\\\" \\\\ 值\"]");
	free(text);
	text = crm_idem_args(values, 0);
	CHECK_STR(text, "[]");
	free(text);
	CHECK(crm_idem_args(bad, 1) == NULL);
}

int
main(void)
{
	test_keys();
	test_hashes();
	test_args();

	CHECK_DONE();
}
