/* Unit tests of src/import.c: files into checked lines of COPY text. */
#include <stdlib.h>

#include "check.h"
#include "crm/import.h"

static const char *const grades[] = {"A", "B", NULL};

static const struct crm_field fields[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 20, NULL},
    {"grade", CRM_T_ENUM, CRM_F_NULLABLE, 0, 0, grades},
    {"is_key", CRM_T_BOOL, 0, 0, 0, NULL},
    {"size", CRM_T_INT, 0, 1, 100, NULL},
    {"tags", CRM_T_TEXT_ARRAY, 0, 1, 10, NULL},
    {"external_id", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10, NULL},
    {"custom", CRM_T_OBJECT, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct crm_field extra[] = {
    {"owner_email", CRM_T_EMAIL, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct crm_import_spec spec = {"things", fields, extra, 1, NULL,
    0};

static struct crm_import imp;
static char copied[65536];

/* Read `text` (fed in chunks of `chunk` bytes) into imp; the COPY text
 * lands in `copied`. Returns 1 when the file as a whole was accepted. */
static int
run(int format, const char *text, size_t chunk)
{
	json_t *custom;
	size_t off, n, len;
	int ok;

	copied[0] = '\0';
	custom = json_pack("{s:s, s:s, s:s}", "level", "number", "vip", "bool",
	    "note", "text");
	ok = crm_import_init(&imp, &spec, format, custom);
	json_decref(custom);
	len = strlen(text);
	for (off = 0; ok && off < len; off += n) {
		n = chunk == 0 || len - off < chunk ? len - off : chunk;
		ok = crm_import_feed(&imp, text + off, n);
		strncat(copied, imp.out != NULL ? imp.out : "", imp.out_len);
		crm_import_drain(&imp);
	}
	if (ok)
		ok = crm_import_finish(&imp);
	strncat(copied, imp.out != NULL ? imp.out : "", imp.out_len);
	crm_import_drain(&imp);

	return (ok);
}

/* The errors as "line:field:code" separated by spaces. */
static const char *
errors(void)
{
	static char buf[4096];
	json_t *e;
	size_t i, n;

	buf[0] = '\0';
	json_array_foreach(imp.errors, i, e)
	{
		n = strlen(buf);
		(void)snprintf(buf + n, sizeof(buf) - n, "%s%lld:%s:%s",
		    i > 0 ? " " : "",
		    (long long)json_integer_value(json_object_get(e, "line")),
		    json_string_value(json_object_get(e, "field")),
		    json_string_value(json_object_get(e, "code")));
	}
	return (buf);
}

static void
test_csv(void)
{
	size_t chunk;

	for (chunk = 0; chunk < 5; chunk++) {
		CHECK(run(CRM_IMPORT_CSV,
		    "\xef\xbb\xbfname, is_key ,tags,owner_email,custom.level,"
		    "custom.vip,custom.note,external_id\r\n"
		    "四川糖酒,TRUE,重点; 华东 ;,a@b.cn,3,true,x,E1\r\n"
		    "\"a,\\\"\"b\",0,\"[\"\"x\"\"]\",,x,no,,\r\n",
		    chunk));
		CHECK_STR(copied,
		    "2\tt\t{\"name\":\"四川糖酒\",\"is_key\":true,\"tags\":"
		    "[\"重点\",\"华东\"],\"owner_email\":\"a@b.cn\","
		    "\"custom\":{\"level\":3,\"vip\":true,\"note\":\"x\"},"
		    "\"external_id\":\"E1\"}\n"
		    "3\tt\t{\"name\":\"a,\\\\\\\\\\\\\"b\",\"is_key\":false,"
		    "\"tags\":[\"x\"],\"custom\":{\"level\":\"x\","
		    "\"vip\":\"no\"}}\n");
		CHECK(imp.read == 2 && imp.failed == 0);
		crm_import_cleanup(&imp);
	}

	/* Unknown, repeated, nameless columns: the whole file, 400. */
	CHECK(!run(CRM_IMPORT_CSV,
	    "name,colour,name,,custom.nope,custom\nx,y,z,,,\n", 0));
	CHECK(imp.fatal.kind == CRM_ERR_BAD_REQUEST);
	CHECK(json_array_size(imp.fatal.errors) == 5);
	CHECK_STR(json_string_value(
		      json_object_get(json_array_get(imp.fatal.errors, 0),
			  "field")),
	    "colour");
	crm_import_cleanup(&imp);
	CHECK(!run(CRM_IMPORT_CSV, "", 0));
	CHECK(imp.fatal.kind == CRM_ERR_BAD_REQUEST);
	crm_import_cleanup(&imp);
	CHECK(!run(CRM_IMPORT_CSV, "\"name\n", 0));
	CHECK(imp.fatal.kind == CRM_ERR_BAD_REQUEST);
	crm_import_cleanup(&imp);

	/* Per-line refusals: the other lines go on. */
	CHECK(run(CRM_IMPORT_CSV,
	    "name,grade,is_key,size,external_id\n"
	    "ok,A,,,\n"
	    ",A,,,E2\n"
	    "x,Z,maybe,7,E3\n"
	    "x,A\n"
	    "\"x\"y,A,,,\n"
	    "x,A,,1.5,\n"
	    "\xff,A,,,\n"
	    "long name over twenty chars,B,1,100,E4\n",
	    0));
	CHECK_STR(errors(),
	    "3:name:required 4:is_key:type 4:grade:enum 5::columns 6::format "
	    "7:size:type 8::format 9:name:length");
	CHECK(imp.read == 8 && imp.failed == 7 && imp.errors_total == 8);
	/* Refused lines keep their external_id for the duplicate check. */
	CHECK_STR(copied,
	    "2\tt\t{\"name\":\"ok\",\"grade\":\"A\"}\n"
	    "3\tf\t{\"external_id\":\"E2\"}\n"
	    "4\tf\t{\"external_id\":\"E3\"}\n"
	    "9\tf\t{\"external_id\":\"E4\"}\n");
	crm_import_cleanup(&imp);
}

static void
test_ndjson(void)
{
	size_t chunk;

	for (chunk = 0; chunk < 4; chunk++) {
		CHECK(run(CRM_IMPORT_NDJSON,
		    "\xef\xbb\xbf{\"name\":\"甲\",\"owner_email\":\"a@b.cn\"}"
		    "\r\n"
		    "\n"
		    "  \n"
		    "{\"name\":\"乙\",\"colour\":\"red\",\"grade\":null}\n"
		    "{\"name\":\"a\",\"name\":\"b\"}\n"
		    "[1]\n"
		    "{\"name\": 5, \"external_id\": \"E9\"}\n"
		    "{\"name\":\"丙\",\"owner_email\":\"nope\"}\n"
		    "{\"name\":\"丁\",\"custom\":{\"x\":1}}",
		    chunk));
		CHECK_STR(errors(),
		    "4:colour:unknown_field 5::format 6::format 7:name:type "
		    "8:owner_email:format");
		CHECK_STR(copied,
		    "1\tt\t{\"name\":\"甲\",\"owner_email\":\"a@b.cn\"}\n"
		    "7\tf\t{\"external_id\":\"E9\"}\n"
		    "9\tt\t{\"name\":\"丁\",\"custom\":{\"x\":1}}\n");
		CHECK(imp.read == 7 && imp.failed == 5);
		crm_import_cleanup(&imp);
	}
}

static void
test_cap_and_report(void)
{
	json_t *db, *report;
	char *text, *doc;
	size_t i, len;
	struct crm_error err;

	text = malloc(1100 * 8 + 16);
	strcpy(text, "name,size\n");
	for (i = 0; i < 1100; i++)
		strcat(text, ",x\n");
	CHECK(run(CRM_IMPORT_CSV, text, 0));
	free(text);
	CHECK(json_array_size(imp.errors) == CRM_IMPORT_ERRORS_MAX);
	CHECK(imp.errors_total == 2200 && imp.failed == 1100);
	crm_import_cleanup(&imp);

	CHECK(run(CRM_IMPORT_CSV, "name\nok\n\"x\n", 0));
	db = json_loads("{\"inserted\":1,\"updated\":0,\"failed\":1,"
			"\"errors_total\":1,\"errors\":[{\"line\":2,\"field\":"
			"\"owner_email\",\"code\":\"not_found\",\"message\":"
			"\"m\"}]}",
	    0, NULL);
	report = crm_import_report(&imp, db, 1);
	CHECK(json_integer_value(json_object_get(report, "read")) == 2);
	CHECK(json_integer_value(json_object_get(report, "inserted")) == 1);
	CHECK(json_integer_value(json_object_get(report, "failed")) == 2);
	CHECK(json_integer_value(json_object_get(report, "errors_total")) == 2);
	CHECK(json_integer_value(
		  json_object_get(json_array_get(json_object_get(report,
						     "errors"),
				      1),
		      "line")) == 3);
	json_decref(report);
	report = crm_import_report(&imp, db, 0);
	CHECK(json_integer_value(json_object_get(report, "inserted")) == 0);

	crm_error_init(&err);
	crm_error_set(&err, CRM_ERR_VALIDATION, "Nothing was imported.");
	doc =
	    crm_import_problem(&err, report, "/v1/imports/things", "rid", &len);
	CHECK(doc != NULL && strlen(doc) == len);
	CHECK(strstr(doc, "\"status\":422") != NULL);
	CHECK(strstr(doc, "\"failed\":2") != NULL);
	CHECK(strstr(doc, "\"line\":3") != NULL);
	free(doc);
	crm_error_cleanup(&err);
	json_decref(report);
	json_decref(db);
	crm_import_cleanup(&imp);
}

static const struct crm_field order_fields[] = {
    {"external_id", CRM_T_TEXT, CRM_F_REQUIRED, 1, 10, NULL},
    {"lines", CRM_T_OBJECT_ARRAY, CRM_F_REQUIRED, 1, 100, NULL},
    {"subscription", CRM_T_OBJECT, CRM_F_NULLABLE, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct crm_field line_fields[] = {
    {"sku", CRM_T_TEXT, 0, 1, 64, NULL},
    {"quantity", CRM_T_DECIMAL, 0, 3, 9, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct crm_field sub_fields[] = {
    {"periods", CRM_T_INT, 0, 1, 120, NULL},
    {"auto_renew", CRM_T_BOOL, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct crm_import_nested nested[] = {
    {"lines", line_fields},
    {"subscription", sub_fields},
    {NULL, NULL},
};

/* An order and its lines: nested columns, lines checked as patches. */
static void
test_nested(void)
{
	static const struct crm_import_spec orders = {"orders", order_fields,
	    NULL, 0, nested, 1};
	int ok;

	ok = crm_import_init(&imp, &orders, CRM_IMPORT_CSV, NULL);
	CHECK(ok);
	ok = crm_import_feed(&imp,
	    "external_id,lines.sku,lines.quantity,subscription.periods,"
	    "subscription.auto_renew,lines.colour\n",
	    95);
	CHECK(!ok && imp.fatal.kind == CRM_ERR_BAD_REQUEST);
	CHECK_STR(json_string_value(
		      json_object_get(json_array_get(imp.fatal.errors, 0),
			  "field")),
	    "lines.colour");
	crm_import_cleanup(&imp);

	CHECK(crm_import_init(&imp, &orders, CRM_IMPORT_CSV, NULL));
	CHECK(crm_import_feed(&imp,
	    "external_id,lines.sku,lines.quantity,subscription.periods,"
	    "subscription.auto_renew\n"
	    "SO-1,A,2,12,true\n"
	    ",B,1.5,,\n"
	    "SO-2,C,1,x,\n",
	    120));
	CHECK(crm_import_finish(&imp));
	copied[0] = '\0';
	strncat(copied, imp.out, imp.out_len);
	CHECK_STR(copied,
	    "2\tt\t{\"external_id\":\"SO-1\",\"lines\":[{\"sku\":\"A\","
	    "\"quantity\":\"2\"}],\"subscription\":{\"periods\":12,"
	    "\"auto_renew\":true}}\n"
	    "3\tt\t{\"lines\":[{\"sku\":\"B\",\"quantity\":\"1.5\"}]}\n"
	    "4\tf\t{\"external_id\":\"SO-2\"}\n");
	CHECK_STR(errors(), "4:subscription.periods:type");
	crm_import_cleanup(&imp);
}

int
main(void)
{
	test_csv();
	test_ndjson();
	test_cap_and_report();
	test_nested();

	CHECK(crm_import_media_type("text/csv") == CRM_IMPORT_CSV);
	CHECK(
	    crm_import_media_type("Text/CSV; charset=UTF-8") == CRM_IMPORT_CSV);
	CHECK(crm_import_media_type("text/csv; header=present") ==
	    CRM_IMPORT_CSV);
	CHECK(
	    crm_import_media_type("application/x-ndjson") == CRM_IMPORT_NDJSON);
	CHECK(crm_import_media_type("application/ndjson") == CRM_IMPORT_NDJSON);
	CHECK(crm_import_media_type("text/csv; charset=gbk") == 0);
	CHECK(crm_import_media_type("text/csvx") == 0);
	CHECK(crm_import_media_type("application/json") == 0);
	CHECK(crm_import_media_type(NULL) == 0);

	CHECK_DONE();
}
