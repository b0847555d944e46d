/* Unit tests of src/accesslog.c: one parseable JSON line per request. */
#include <stdlib.h>

#include <jansson.h>

#include "check.h"
#include "crm/accesslog.h"

int
main(void)
{
	struct crm_access a;
	json_t *doc;
	char *line;
	size_t len;

	memset(&a, 0, sizeof(a));
	a.request_id = "rid1";
	a.method = "GET";
	a.path = "/v1/customers/\xe5\x9b\x9b";
	a.route = "getCustomer";
	a.remote = "127.0.0.1";
	a.user_agent = "curl/7.88\xff";
	a.status = 200;
	a.duration_ms = 1.23456;
	a.time_ms = 1795392000123LL;

	line = crm_accesslog_line(&a, &len);
	CHECK(line != NULL);
	CHECK(len == strlen(line) && line[len - 1] == '\n');
	CHECK(strchr(line, '\n') == line + len - 1);
	doc = json_loadb(line, len, 0, NULL);
	CHECK(doc != NULL);
	CHECK_STR(json_string_value(json_object_get(doc, "ts")),
	    "2026-11-23T00:00:00.123Z");
	CHECK_STR(json_string_value(json_object_get(doc, "path")),
	    "/v1/customers/四");
	CHECK(json_integer_value(json_object_get(doc, "status")) == 200);
	CHECK(json_real_value(json_object_get(doc, "duration_ms")) == 1.234);
	/* Invalid UTF-8 from a client is dropped, never logged broken. */
	CHECK(json_object_get(doc, "user_agent") == NULL);
	json_decref(doc);
	free(line);

	CHECK_DONE();
}
