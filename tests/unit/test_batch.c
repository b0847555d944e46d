/* Unit tests of src/batch.c: item checks and the answer of a batch. */
#include <stdlib.h>

#include "check.h"
#include "crm/batch.h"

#define END \
	{ \
		NULL, 0, 0, 0, 0, NULL \
	}

static const struct crm_field thing_body[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 20, NULL},
    {"external_id", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    END,
};

static const struct crm_batch_kind things = {"things", thing_body, thing_body,
    1, 0};
static const struct crm_batch_kind notes = {"notes", thing_body, thing_body, 0,
    1};

#define ID1 "00000000-0000-4000-8000-000000000001"

/* The result at `i` of `results`, its status and first error's field. */
static int
status_of(json_t *results, size_t i)
{
	return ((int)json_integer_value(
	    json_object_get(json_array_get(results, i), "status")));
}

static const char *
field_of(json_t *results, size_t i, size_t e)
{
	json_t *p;

	p = json_object_get(json_array_get(results, i), "problem");
	return (json_string_value(
	    json_object_get(json_array_get(json_object_get(p, "errors"), e),
		"field")));
}

static const char *
code_of(json_t *results, size_t i, size_t e)
{
	json_t *p;

	p = json_object_get(json_array_get(results, i), "problem");
	return (json_string_value(
	    json_object_get(json_array_get(json_object_get(p, "errors"), e),
		"code")));
}

static void
test_checks(void)
{
	json_t *items, *results, *todo, *p;

	items = json_loads("["
			   "{\"op\":\"create\",\"data\":{\"name\":\"甲\"}},"
			   "{\"op\":\"create\",\"data\":{}},"
			   "{\"op\":\"update\",\"data\":{\"name\":\"乙\"}},"
			   "{\"op\":\"update\",\"id\":\"" ID1 "\","
			   "\"data\":{\"name\":\"丙\"}},"
			   "{\"op\":\"update\",\"id\":\"" ID1 "\","
			   "\"data\":{}},"
			   "{\"op\":\"upsert\",\"external_id\":\"e1\","
			   "\"data\":{\"name\":\"丁\",\"external_id\":\"e2\"}},"
			   "{\"op\":\"delete\",\"data\":{},\"x\":1},"
			   "{\"op\":\"create\",\"if_match\":2,"
			   "\"data\":{\"name\":\"戊\",\"external_id\":\"e3\"}},"
			   "{\"op\":\"upsert\",\"external_id\":\"e3\","
			   "\"data\":{\"name\":\"己\"}}"
			   "]",
	    0, NULL);
	CHECK(items != NULL);
	CHECK(crm_batch_check(&things, items, 0, "/v1/things/batch", "rid1",
		  &results, &todo) == CRM_OK);
	CHECK(json_array_size(results) == 9);
	CHECK(json_array_size(todo) == 3);

	/* A good create goes to the database, with its index. */
	CHECK(json_is_null(json_array_get(results, 0)));
	CHECK(json_integer_value(
		  json_object_get(json_array_get(todo, 0), "index")) == 0);

	/* The data is checked as the single route checks its body. */
	CHECK(status_of(results, 1) == 422);
	CHECK_STR(field_of(results, 1, 0), "data.name");
	CHECK_STR(code_of(results, 1, 0), "required");
	p = json_object_get(json_array_get(results, 1), "problem");
	CHECK_STR(json_string_value(json_object_get(p, "type")),
	    "urn:crm:problem:validation-failed");
	CHECK_STR(json_string_value(json_object_get(p, "request_id")), "rid1");
	CHECK_STR(json_string_value(json_object_get(p, "instance")),
	    "/v1/things/batch");

	/* An update needs its id; an update's data is a merge patch. */
	CHECK_STR(field_of(results, 2, 0), "id");
	CHECK_STR(code_of(results, 2, 0), "required");
	CHECK(json_is_null(json_array_get(results, 3)));

	/* The same record twice: the second is refused. */
	CHECK(status_of(results, 4) == 422);
	CHECK_STR(field_of(results, 4, 0), "id");
	CHECK_STR(code_of(results, 4, 0), "duplicate");
	CHECK_STR(json_string_value(
		      json_object_get(json_array_get(results, 4), "id")),
	    ID1);

	/* An upsert's data may not name another external_id. */
	CHECK_STR(field_of(results, 5, 0), "data.external_id");
	CHECK_STR(code_of(results, 5, 0), "mismatch");

	/* Unknown members and ops. */
	CHECK_STR(field_of(results, 6, 0), "x");
	CHECK_STR(code_of(results, 6, 0), "unknown_field");
	CHECK_STR(field_of(results, 6, 1), "op");
	CHECK_STR(code_of(results, 6, 1), "enum");

	/* if_match guards updates only. */
	CHECK_STR(field_of(results, 7, 0), "if_match");
	CHECK_STR(code_of(results, 7, 0), "not_allowed");

	/* e3 was named by a refused item only: this upsert is the first. */
	CHECK(json_is_null(json_array_get(results, 8)));
	json_decref(results);
	json_decref(todo);

	/* Without the duplicate check, both updates of ID1 go through. */
	CHECK(crm_batch_check(&things, items, 1, "/v1/things/batch", "rid1",
		  &results, &todo) == CRM_OK);
	CHECK(json_array_size(todo) == 4);
	CHECK(json_is_null(json_array_get(results, 4)));
	json_decref(results);
	json_decref(todo);
	json_decref(items);

	/* No upsert without external ids; new records name their parent. */
	items = json_loads("["
			   "{\"op\":\"upsert\",\"external_id\":\"e1\","
			   "\"data\":{\"name\":\"甲\"}},"
			   "{\"op\":\"create\",\"data\":{\"name\":\"乙\"}},"
			   "{\"op\":\"update\",\"id\":\"" ID1 "\","
			   "\"customer_id\":\"" ID1 "\",\"data\":{}}"
			   "]",
	    0, NULL);
	CHECK(crm_batch_check(&notes, items, 0, "/v1/notes/batch", "rid2",
		  &results, &todo) == CRM_OK);
	CHECK(json_array_size(todo) == 0);
	CHECK_STR(field_of(results, 0, 0), "op");
	CHECK_STR(field_of(results, 1, 0), "customer_id");
	CHECK_STR(code_of(results, 1, 0), "required");
	CHECK_STR(field_of(results, 2, 0), "customer_id");
	CHECK_STR(code_of(results, 2, 0), "not_allowed");
	json_decref(results);
	json_decref(todo);
	json_decref(items);
}

static const char db_answer[] =
    "{\"written\": true, \"results\": ["
    "{\"index\": 0, \"status\": 201, \"body\": {\"id\": \"" ID1 "\", "
    "\"name\": \"甲\", \"version\": 1}},"
    "{\"index\": 2, \"status\": 404, \"id\": \"" ID1 "\"},"
    "{\"index\": 3, \"id\": null, \"state\": \"CR409\", \"message\": "
    "\"A thing with this external_id already exists.\", \"detail\": null},"
    "{\"index\": 4, \"id\": null, \"state\": \"XX000\", \"message\": "
    "\"secret internals\", \"detail\": null},"
    "{\"index\": 5, \"id\": null, \"state\": \"CR422\", \"message\": "
    "\"Bad links; see errors.\", \"detail\": \"[{\\\"field\\\": "
    "\\\"customer_id\\\", \\\"code\\\": \\\"not_found\\\", "
    "\\\"message\\\": \\\"No such customer.\\\"}]\"}"
    "]}";

static void
test_answer(void)
{
	json_t *items, *results, *todo, *logs, *doc, *r, *p;
	char *text;
	size_t len;

	items = json_loads("["
			   "{\"op\":\"create\",\"data\":{\"name\":\"甲\"}},"
			   "{\"op\":\"create\",\"data\":{}},"
			   "{\"op\":\"update\",\"id\":\"" ID1 "\","
			   "\"data\":{\"name\":\"乙\"}},"
			   "{\"op\":\"create\",\"data\":{\"name\":\"丙\"}},"
			   "{\"op\":\"create\",\"data\":{\"name\":\"丁\"}},"
			   "{\"op\":\"create\",\"data\":{\"name\":\"戊\"}}"
			   "]",
	    0, NULL);
	CHECK(crm_batch_check(&things, items, 0, "/v1/things/batch", "rid3",
		  &results, &todo) == CRM_OK);
	CHECK(json_array_size(todo) == 5);
	logs = json_array();
	text = crm_batch_answer(results, db_answer, sizeof(db_answer) - 1, 0,
	    "/v1/things/batch", "rid3", logs, &len);
	CHECK(text != NULL && strlen(text) == len);
	doc = json_loads(text, 0, NULL);
	CHECK(json_is_false(json_object_get(doc, "rolled_back")));
	CHECK(json_integer_value(json_object_get(doc, "succeeded")) == 1);
	CHECK(json_integer_value(json_object_get(doc, "failed")) == 5);
	r = json_object_get(doc, "results");
	CHECK(status_of(r, 0) == 201);
	CHECK_STR(json_string_value(
		      json_object_get(json_array_get(r, 0), "id")),
	    ID1);
	CHECK_STR(json_string_value(
		      json_object_get(json_object_get(json_array_get(r, 0),
					  "body"),
			  "name")),
	    "甲");
	CHECK(status_of(r, 1) == 422);
	CHECK(status_of(r, 2) == 404);
	p = json_object_get(json_array_get(r, 2), "problem");
	CHECK_STR(json_string_value(json_object_get(p, "detail")),
	    "The resource does not exist.");
	CHECK(status_of(r, 3) == 409);
	p = json_object_get(json_array_get(r, 3), "problem");
	CHECK_STR(json_string_value(json_object_get(p, "detail")),
	    "A thing with this external_id already exists.");
	/* PostgreSQL's own text goes to the log, never to the client. */
	CHECK(status_of(r, 4) == 500);
	CHECK(strstr(text, "secret") == NULL);
	CHECK(json_array_size(logs) == 1);
	CHECK_STR(json_string_value(
		      json_object_get(json_array_get(logs, 0), "message")),
	    "secret internals");
	/* The database's field errors are named inside data too. */
	CHECK(status_of(r, 5) == 422);
	CHECK_STR(field_of(r, 5, 0), "data.customer_id");
	json_decref(doc);
	free(text);
	json_decref(results);
	json_decref(todo);

	/* All or none: the success was rolled back, a 424 without its id. */
	CHECK(crm_batch_check(&things, items, 0, "/v1/things/batch", "rid4",
		  &results, &todo) == CRM_OK);
	text = crm_batch_answer(results, db_answer, sizeof(db_answer) - 1, 1,
	    "/v1/things/batch", "rid4", logs, &len);
	doc = json_loads(text, 0, NULL);
	CHECK(json_is_true(json_object_get(doc, "rolled_back")));
	CHECK(json_integer_value(json_object_get(doc, "succeeded")) == 0);
	r = json_object_get(doc, "results");
	CHECK(status_of(r, 0) == 424);
	CHECK(json_is_null(json_object_get(json_array_get(r, 0), "id")));
	p = json_object_get(json_array_get(r, 0), "problem");
	CHECK_STR(json_string_value(json_object_get(p, "type")),
	    "urn:crm:problem:failed-dependency");
	CHECK_STR(json_string_value(json_object_get(p, "detail")),
	    "Not written: the batch is all or none and items 1, 2, 3, 4, 5 "
	    "failed.");
	CHECK(status_of(r, 3) == 409);
	json_decref(doc);
	free(text);

	/* An answer that is not api_batch's is refused. */
	json_decref(results);
	json_decref(todo);
	CHECK(crm_batch_check(&things, items, 0, "/v1/things/batch", "rid5",
		  &results, &todo) == CRM_OK);
	CHECK(crm_batch_answer(results, "{\"results\": [{\"index\": 9}]}", 27,
		  0, "/v1/things/batch", "rid5", logs, &len) == NULL);
	CHECK(crm_batch_answer(results, "nope", 4, 0, "/v1/things/batch",
		  "rid5", logs, &len) == NULL);
	json_decref(results);
	json_decref(todo);

	/* A database answer must fill every accepted item's slot. */
	CHECK(crm_batch_check(&things, items, 0, "/v1/things/batch", "rid6",
		  &results, &todo) == CRM_OK);
	CHECK(crm_batch_answer(results, NULL, 0, 0, "/v1/things/batch", "rid6",
		  logs, &len) == NULL);
	json_decref(results);
	json_decref(todo);
	json_decref(items);

	/* Nothing reached the database: answered from the checks alone. */
	items = json_loads("[{\"op\":\"create\",\"data\":{}}]", 0, NULL);
	CHECK(crm_batch_check(&things, items, 0, "/v1/things/batch", "rid7",
		  &results, &todo) == CRM_OK);
	CHECK(json_array_size(todo) == 0);
	text = crm_batch_answer(results, NULL, 0, 1, "/v1/things/batch", "rid7",
	    logs, &len);
	doc = json_loads(text, 0, NULL);
	CHECK(json_is_true(json_object_get(doc, "rolled_back")));
	CHECK(json_integer_value(json_object_get(doc, "failed")) == 1);
	CHECK(status_of(json_object_get(doc, "results"), 0) == 422);
	json_decref(doc);
	free(text);
	json_decref(results);
	json_decref(todo);
	json_decref(items);
	json_decref(logs);
}

int
main(void)
{
	test_checks();
	test_answer();
	CHECK_DONE();
}
