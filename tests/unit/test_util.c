/* Unit tests of src/util.c. */
#include "check.h"
#include "crm/util.h"

int
main(void)
{
	char a[CRM_REQUEST_ID_LEN + 1], b[CRM_REQUEST_ID_LEN + 1];
	char small[8], ts[40], long_id[80];

	CHECK(crm_request_id_new(a, sizeof(a)));
	CHECK(crm_request_id_new(b, sizeof(b)));
	CHECK(strlen(a) == CRM_REQUEST_ID_LEN);
	CHECK(strcmp(a, b) != 0);
	CHECK(crm_request_id_valid(a));
	CHECK(!crm_request_id_new(small, sizeof(small)));

	CHECK(crm_request_id_valid("req-1.2_3"));
	CHECK(!crm_request_id_valid(""));
	CHECK(!crm_request_id_valid(NULL));
	CHECK(!crm_request_id_valid("a b"));
	CHECK(!crm_request_id_valid("a\"b"));
	CHECK(!crm_request_id_valid("a\nb"));
	memset(long_id, 'x', sizeof(long_id));
	long_id[CRM_REQUEST_ID_MAX] = '\0';
	CHECK(crm_request_id_valid(long_id));
	long_id[CRM_REQUEST_ID_MAX] = 'x';
	long_id[CRM_REQUEST_ID_MAX + 1] = '\0';
	CHECK(!crm_request_id_valid(long_id));

	crm_rfc3339_ms(0, ts, sizeof(ts));
	CHECK_STR(ts, "1970-01-01T00:00:00.000Z");
	crm_rfc3339_ms(1795392000999LL, ts, sizeof(ts));
	CHECK_STR(ts, "2026-11-23T00:00:00.999Z");

	CHECK_DONE();
}
