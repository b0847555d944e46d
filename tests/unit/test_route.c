/* Unit tests of src/route.c. */
#include "check.h"
#include "crm/route.h"

int
main(void)
{
	struct crm_route_params p;
	char longseg[300];

	CHECK(crm_route_match("/healthz", "/healthz", &p));
	CHECK(p.count == 0);
	CHECK(!crm_route_match("/healthz", "/healthz/", &p));
	CHECK(!crm_route_match("/healthz", "/health", &p));
	CHECK(!crm_route_match("/v1/customers", "/v1/customersx", &p));

	CHECK(crm_route_match("/v1/customers/{id}", "/v1/customers/c_123", &p));
	CHECK(p.count == 1);
	CHECK_STR(p.value[0], "c_123");
	CHECK(!crm_route_match("/v1/customers/{id}", "/v1/customers/", &p));
	CHECK(!crm_route_match("/v1/customers/{id}", "/v1/customers", &p));
	CHECK(!crm_route_match("/v1/customers/{id}", "/v1/customers/a/b", &p));

	CHECK(crm_route_match("/v1/customers/{id}/contacts/{cid}",
	    "/v1/customers/a1/contacts/b2", &p));
	CHECK(p.count == 2);
	CHECK_STR(p.value[0], "a1");
	CHECK_STR(p.value[1], "b2");
	CHECK(!crm_route_match("/v1/customers/{id}/contacts",
	    "/v1/customers/a1/notes", &p));

	memset(longseg, 'x', sizeof(longseg));
	memcpy(longseg, "/v1/c/", 6);
	longseg[sizeof(longseg) - 1] = '\0';
	CHECK(!crm_route_match("/v1/c/{id}", longseg, &p));
	CHECK(crm_route_match("/v1/c/{id}", "/v1/c/x", NULL));

	CHECK_DONE();
}
