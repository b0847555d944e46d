/* Unit tests of src/validate.c: bodies and query strings. */
#include <stdlib.h>

#include "check.h"
#include "crm/validate.h"

static const char *const roles[] = {"admin", "sales_rep", NULL};

static const struct crm_field user_fields[] = {
    {"email", CRM_T_EMAIL, CRM_F_REQUIRED, 0, 0, NULL},
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 5, NULL},
    {"role", CRM_T_ENUM, CRM_F_REQUIRED, 0, 0, roles},
    {"manager_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"active", CRM_T_BOOL, 0, 0, 0, NULL},
    {"scopes", CRM_T_ENUM_ARRAY, 0, 0, 0, roles},
    {"expires_at", CRM_T_TIME, 0, 0, 0, NULL},
    {"phone", CRM_T_PHONE, 0, 0, 0, NULL},
    {"website", CRM_T_URL, 0, 0, 30, NULL},
    {"tags", CRM_T_TEXT_ARRAY, 0, 1, 4, NULL},
    {"phones", CRM_T_PHONE_ARRAY, 0, 0, 0, NULL},
    {"birthday", CRM_T_DATE, 0, 0, 0, NULL},
    {"ids", CRM_T_UUID_ARRAY, 0, 0, 2, NULL},
    {"amount", CRM_T_DECIMAL, 0, 2, 5, NULL},
    {"lines", CRM_T_OBJECT_ARRAY, 0, 1, 2, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct crm_field list_params[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"role", CRM_T_ENUM, 0, 0, 0, roles},
    {"active", CRM_T_BOOL, 0, 0, 0, NULL},
    {"q", CRM_T_TEXT, 0, 1, 10, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static int
body(const char *text, int patch, struct crm_error *err)
{
	json_t *obj;
	int r;

	crm_error_cleanup(err);
	obj = json_loads(text, 0, NULL);
	r = crm_validate_object(obj, user_fields, patch, err);
	json_decref(obj);
	return (r);
}

static int
query(const char *qs, json_t **out, struct crm_error *err)
{
	crm_error_cleanup(err);
	json_decref(*out);
	*out = NULL;
	return (crm_qs_parse(qs, list_params, out, err));
}

static int
has_error(const struct crm_error *err, const char *field, const char *code)
{
	size_t i;
	json_t *e;

	json_array_foreach(err->errors, i, e)
	{
		if (!strcmp(json_string_value(json_object_get(e, "field")),
			field) &&
		    !strcmp(json_string_value(json_object_get(e, "code")),
			code))
			return (1);
	}
	return (0);
}

int
main(void)
{
	struct crm_error err;
	json_t *q;

	crm_error_init(&err);
	q = NULL;

	CHECK(body("{\"email\":\"a@b.cn\",\"name\":\"张伟\",\"role\":"
		   "\"admin\"}",
		  0, &err) == CRM_OK);
	/* Five characters, fifteen bytes: length is counted in characters. */
	CHECK(body("{\"email\":\"a@b.cn\",\"name\":\"四川糖酒厂\",\"role\":"
		   "\"admin\"}",
		  0, &err) == CRM_OK);
	CHECK(body("{\"email\":\"a@b.cn\",\"name\":\"四川糖酒有限\",\"role\":"
		   "\"admin\"}",
		  0, &err) == CRM_ERROR);
	CHECK(has_error(&err, "name", "length"));

	/* Every problem is reported, not just the first. */
	CHECK(body("{\"email\":\"nope\",\"role\":\"boss\",\"extra\":1,"
		   "\"active\":\"yes\",\"manager_id\":\"123\"}",
		  0, &err) == CRM_ERROR);
	CHECK(err.kind == CRM_ERR_VALIDATION);
	CHECK(has_error(&err, "email", "format"));
	CHECK(has_error(&err, "name", "required"));
	CHECK(has_error(&err, "role", "enum"));
	CHECK(has_error(&err, "extra", "unknown_field"));
	CHECK(has_error(&err, "active", "type"));
	CHECK(has_error(&err, "manager_id", "format"));
	CHECK(json_array_size(err.errors) == 6);

	/* Patches: required fields may be absent; nulls only if nullable. */
	CHECK(body("{\"manager_id\":null}", 1, &err) == CRM_OK);
	CHECK(body("{\"name\":null}", 1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "name", "not_nullable"));

	CHECK(body("{\"scopes\":[\"admin\",\"admin\"]}", 1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "scopes", "duplicate"));
	CHECK(body("{\"scopes\":[]}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"scopes\":[\"admin\",\"x\"]}", 1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "scopes", "enum"));
	CHECK(body("{\"expires_at\":\"2027-01-01T00:00:00+08:00\"}", 1, &err) ==
	    CRM_OK);
	CHECK(body("{\"expires_at\":\"2027-01-01T00:00:00.5Z\"}", 1, &err) ==
	    CRM_OK);
	CHECK(body("{\"expires_at\":\"2027-01-01\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"email\":\"a b@c.cn\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"email\":\"a@b\"}", 1, &err) == CRM_ERROR);

	/* Phones, URLs, free-text arrays. */
	CHECK(body("{\"phone\":\"028-86001234\"}", 1, &err) == CRM_OK);
	CHECK(body("{\"phone\":\"+86 (138) 0013.8000\"}", 1, &err) == CRM_OK);
	CHECK(body("{\"phone\":\"call me\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"phone\":\"+-\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"website\":\"https://a.cn/x\"}", 1, &err) == CRM_OK);
	CHECK(body("{\"website\":\"javascript:alert(1)\"}", 1, &err) ==
	    CRM_ERROR);
	CHECK(body("{\"website\":\"https://a.cn/ x\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"tags\":[\"重点\",\"vip\"]}", 1, &err) == CRM_OK);
	CHECK(body("{\"tags\":[]}", 1, &err) == CRM_OK);
	CHECK(body("{\"tags\":[\"a\",\"a\"]}", 1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "tags", "duplicate"));
	CHECK(body("{\"tags\":[\"\"]}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"tags\":[\"toolong\"]}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"tags\":\"vip\"}", 1, &err) == CRM_ERROR);

	CHECK(body("{\"phones\":[\"13800138000\",\"028-1234\"]}", 1, &err) ==
	    CRM_OK);
	CHECK(body("{\"phones\":[\"x\"]}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"phones\":[\"123\",\"123\"]}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"birthday\":\"1988-02-29\"}", 1, &err) == CRM_OK);
	CHECK(body("{\"birthday\":\"1989-02-29\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"birthday\":\"1990-13-01\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"birthday\":\"1990-1-01\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"birthday\":\"2000-04-31\"}", 1, &err) == CRM_ERROR);

	CHECK(body("{\"ids\":[\"00000000-0000-4000-8000-000000000101\"]}", 1,
		  &err) == CRM_OK);
	CHECK(body("{\"ids\":[]}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"ids\":[\"x\"]}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"ids\":[\"00000000-0000-4000-8000-000000000101\","
		   "\"00000000-0000-4000-8000-000000000101\"]}",
		  1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "ids", "duplicate"));

	/* Money: exact decimal strings, 2 places, 5 digits here. */
	CHECK(body("{\"amount\":\"1234.56\"}", 1, &err) == CRM_OK);
	CHECK(body("{\"amount\":\"0\"}", 1, &err) == CRM_OK);
	CHECK(body("{\"amount\":\"99999.9\"}", 1, &err) == CRM_OK);
	CHECK(body("{\"amount\":\"000012345.00\"}", 1, &err) == CRM_OK);
	CHECK(body("{\"amount\":\"1.234\"}", 1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "amount", "scale"));
	CHECK(body("{\"amount\":\"-1.00\"}", 1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "amount", "range"));
	CHECK(body("{\"amount\":\"123456\"}", 1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "amount", "range"));
	CHECK(body("{\"amount\":12.5}", 1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "amount", "type"));
	CHECK(body("{\"amount\":\"1e3\"}", 1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "amount", "format"));
	CHECK(body("{\"amount\":\"1.\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"amount\":\".5\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"amount\":\"\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"amount\":\"+1\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"amount\":\"1 000\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"amount\":\"1,5\"}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"amount\":\"-\"}", 1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "amount", "format"));

	/* Arrays of objects: only their shape; the database checks fields. */
	CHECK(body("{\"lines\":[{\"quantity\":\"1\"},{}]}", 1, &err) == CRM_OK);
	CHECK(body("{\"lines\":[]}", 1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "lines", "type"));
	CHECK(body("{\"lines\":[{},{},{}]}", 1, &err) == CRM_ERROR);
	CHECK(body("{\"lines\":[{},3]}", 1, &err) == CRM_ERROR);
	CHECK(has_error(&err, "lines", "type"));
	CHECK(body("{\"lines\":{}}", 1, &err) == CRM_ERROR);

	/* Query strings. */
	CHECK(query(NULL, &q, &err) == CRM_OK && json_object_size(q) == 0);
	CHECK(query("limit=10&role=admin&active=false&q=%E5%BC%A0+%E4%BC%9F",
		  &q, &err) == CRM_OK);
	CHECK(json_integer_value(json_object_get(q, "limit")) == 10);
	CHECK(json_is_false(json_object_get(q, "active")));
	CHECK_STR(json_string_value(json_object_get(q, "q")), "张 伟");
	CHECK(query("limit=0", &q, &err) == CRM_ERROR);
	CHECK(has_error(&err, "limit", "range"));
	CHECK(query("limit=5x", &q, &err) == CRM_ERROR);
	CHECK(query("limit=501", &q, &err) == CRM_ERROR);
	CHECK(query("limit=1&limit=2", &q, &err) == CRM_ERROR);
	CHECK(has_error(&err, "limit", "repeated"));
	CHECK(query("sort=name", &q, &err) == CRM_ERROR);
	CHECK(has_error(&err, "sort", "unknown_parameter"));
	CHECK(query("q=%ZZ", &q, &err) == CRM_ERROR);
	CHECK(query("q=%E5", &q, &err) == CRM_ERROR);
	CHECK(query("q=%00", &q, &err) == CRM_ERROR);
	CHECK(query("q=%4", &q, &err) == CRM_ERROR);
	CHECK(query("active=1", &q, &err) == CRM_ERROR);
	CHECK(query("cursor=abc$", &q, &err) == CRM_ERROR);
	CHECK(query("cursor=WyIy-_", &q, &err) == CRM_OK);
	CHECK(query("&&limit=3&", &q, &err) == CRM_OK);

	CHECK(crm_uuid_valid("00000000-0000-4000-8000-000000000101"));
	CHECK(!crm_uuid_valid("00000000-0000-4000-8000-00000000010"));
	CHECK(!crm_uuid_valid("00000000x0000-4000-8000-000000000101"));
	CHECK(!crm_uuid_valid("g0000000-0000-4000-8000-000000000101"));

	json_decref(q);
	crm_error_cleanup(&err);
	CHECK_DONE();
}
