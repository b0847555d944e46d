/* Unit tests of src/json.c: what a JSON request body may and may not be. */
#include "check.h"
#include "crm/json.h"

static int
parse(const char *text, struct crm_error *err)
{
	json_t *doc;
	int r;

	crm_error_cleanup(err);
	r = crm_json_parse_object(text, strlen(text), &doc, err);
	json_decref(doc);
	return (r);
}

int
main(void)
{
	struct crm_error err;
	char deep[200];
	int i;

	crm_error_init(&err);

	CHECK(parse("{\"name\":\"四川糖酒有限公司\"}", &err) == CRM_OK);
	CHECK(parse("{}", &err) == CRM_OK);

	CHECK(parse("", &err) == CRM_ERROR);
	CHECK(err.kind == CRM_ERR_BAD_REQUEST);
	CHECK(parse("{\"a\":1,}", &err) == CRM_ERROR);
	CHECK(strstr(err.detail, "line 1") != NULL);
	CHECK(parse("[1,2]", &err) == CRM_ERROR);
	CHECK(strstr(err.detail, "object") != NULL);
	CHECK(parse("{\"a\":1} {\"b\":2}", &err) == CRM_ERROR);
	CHECK(parse("{\"a\":1,\"a\":2}", &err) == CRM_ERROR);
	CHECK(parse("{\"a\":\"\\u0000\"}", &err) == CRM_ERROR);
	CHECK(parse("{\"a\":\"\xff\xfe\"}", &err) == CRM_ERROR);
	CHECK(parse("{\"a\":\"\xe5\x9b\"}", &err) == CRM_ERROR);

	/* 33 levels refused, 32 accepted, brackets in strings ignored. */
	for (i = 0; i < 33; i++)
		deep[i] = '[';
	deep[33] = '\0';
	CHECK(!crm_json_depth_ok(deep, 33, 32));
	CHECK(crm_json_depth_ok(deep, 32, 32));
	CHECK(crm_json_depth_ok("{\"a\":\"[[[[[[[[\\\"[[[[\"}", 21, 2));
	memset(deep, 0, sizeof(deep));
	deep[0] = '{';
	deep[1] = '"';
	deep[2] = 'a';
	deep[3] = '"';
	deep[4] = ':';
	for (i = 0; i < 40; i++)
		deep[5 + i] = '[';
	CHECK(parse(deep, &err) == CRM_ERROR);
	CHECK(strstr(err.detail, "deeper") != NULL);

	CHECK(crm_json_media_type_ok("application/json"));
	CHECK(crm_json_media_type_ok("application/json; charset=utf-8"));
	CHECK(crm_json_media_type_ok("Application/JSON;charset=\"UTF-8\""));
	CHECK(crm_json_media_type_ok("application/merge-patch+json"));
	CHECK(!crm_json_media_type_ok("application/json; charset=gbk"));
	CHECK(!crm_json_media_type_ok("text/plain"));
	CHECK(!crm_json_media_type_ok("application/jsonx"));
	CHECK(!crm_json_media_type_ok("application/+json"));
	CHECK(!crm_json_media_type_ok(NULL));

	crm_error_cleanup(&err);
	CHECK_DONE();
}
