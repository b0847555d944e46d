/* Unit tests of src/problem.c and src/error.c. */
#include <stdlib.h>

#include "check.h"
#include "crm/problem.h"

int
main(void)
{
	struct crm_error err;
	json_t *doc, *errors;
	char *text;
	size_t len;

	crm_error_init(&err);
	CHECK(crm_error_set(&err, CRM_ERR_NOT_FOUND, "No %s here.", "thing") ==
	    CRM_ERROR);
	text = crm_problem_render(&err, "/v1/nope", "abc123", &len);
	CHECK(text != NULL && strlen(text) == len);
	doc = json_loads(text, 0, NULL);
	CHECK(doc != NULL);
	CHECK_STR(json_string_value(json_object_get(doc, "type")),
	    "urn:crm:problem:not-found");
	CHECK_STR(json_string_value(json_object_get(doc, "title")),
	    "Not found");
	CHECK(json_integer_value(json_object_get(doc, "status")) == 404);
	CHECK_STR(json_string_value(json_object_get(doc, "detail")),
	    "No thing here.");
	CHECK_STR(json_string_value(json_object_get(doc, "instance")),
	    "/v1/nope");
	CHECK_STR(json_string_value(json_object_get(doc, "request_id")),
	    "abc123");
	CHECK(json_object_get(doc, "errors") == NULL);
	json_decref(doc);
	free(text);

	/* Field errors: every one listed, kind becomes validation. */
	crm_error_cleanup(&err);
	crm_error_field(&err, "email", "invalid_format", "not an email");
	crm_error_field(&err, "name", "required", "name is required");
	CHECK(err.kind == CRM_ERR_VALIDATION);
	text = crm_problem_render(&err, "/v1/customers", "r1", &len);
	doc = json_loads(text, 0, NULL);
	errors = json_object_get(doc, "errors");
	CHECK(json_array_size(errors) == 2);
	CHECK_STR(json_string_value(
		      json_object_get(json_array_get(errors, 1), "field")),
	    "name");
	CHECK(json_integer_value(json_object_get(doc, "status")) == 422);
	json_decref(doc);
	free(text);

	/* A path that is not UTF-8 is left out, the document still renders. */
	crm_error_cleanup(&err);
	crm_error_set(&err, CRM_ERR_BAD_REQUEST, NULL);
	text = crm_problem_render(&err, "/v1/\xff", "r2", &len);
	CHECK(text != NULL);
	doc = json_loads(text, 0, NULL);
	CHECK(json_object_get(doc, "instance") == NULL);
	CHECK_STR(json_string_value(json_object_get(doc, "detail")),
	    "Bad request");
	json_decref(doc);
	free(text);

	/* SQLSTATE mapping. */
	crm_error_cleanup(&err);
	crm_error_from_sqlstate(&err, "23505");
	CHECK(crm_error_status(err.kind) == 409);
	CHECK_STR(err.sqlstate, "23505");
	crm_error_cleanup(&err);
	crm_error_from_sqlstate(&err, "40001");
	CHECK(crm_error_status(err.kind) == 503 && err.retry_after > 0);
	crm_error_cleanup(&err);
	crm_error_from_sqlstate(&err, "57P01");
	CHECK(crm_error_status(err.kind) == 503);
	crm_error_cleanup(&err);
	crm_error_from_sqlstate(&err, NULL);
	CHECK(crm_error_status(err.kind) == 503);
	crm_error_cleanup(&err);
	crm_error_from_sqlstate(&err, "42501");
	CHECK(crm_error_status(err.kind) == 404);
	crm_error_cleanup(&err);
	crm_error_from_sqlstate(&err, "XX000");
	CHECK(crm_error_status(err.kind) == 500);
	CHECK(strstr(err.detail, "request id") != NULL);
	crm_error_cleanup(&err);
	crm_error_from_sqlstate(&err, "22P02");
	CHECK(crm_error_status(err.kind) == 422);

	/* The API's own errors raised in SQL: CRnnn, message shown. */
	crm_error_cleanup(&err);
	crm_error_from_pg(&err, "CR412", "The user changed.", NULL);
	CHECK(crm_error_status(err.kind) == 412);
	CHECK_STR(err.detail, "The user changed.");
	crm_error_cleanup(&err);
	crm_error_from_pg(&err, "CR401", "The credentials are invalid.", NULL);
	CHECK(err.kind == CRM_ERR_UNAUTHORIZED);
	crm_error_cleanup(&err);
	crm_error_from_pg(&err, "CR999", "odd", NULL);
	CHECK(crm_error_status(err.kind) == 500);
	crm_error_cleanup(&err);
	crm_error_from_pg(&err, "23505", "duplicate key value (email)=(x)",
	    "Key (email)=(x) already exists.");
	CHECK(crm_error_status(err.kind) == 409);
	CHECK(strstr(err.detail, "email") == NULL);
	CHECK(err.errors == NULL);
	crm_error_cleanup(&err);
	crm_error_from_pg(&err, "CR422", "Bad custom fields.",
	    "[{\"field\":\"custom.size\",\"code\":\"type\","
	    "\"message\":\"must be a number\"}]");
	CHECK(err.kind == CRM_ERR_VALIDATION);
	CHECK(json_array_size(err.errors) == 1);
	crm_error_cleanup(&err);
	crm_error_from_pg(&err, "CR422", "x", "not json");
	CHECK(err.errors == NULL);

	CHECK(crm_error_status((enum crm_error_kind)999) == 500);
	CHECK(crm_error_status(CRM_ERR_TOO_LARGE) == 413);
	CHECK(crm_error_status(CRM_ERR_METHOD_NOT_ALLOWED) == 405);

	crm_error_cleanup(&err);
	CHECK_DONE();
}
