/*
 * RFC 9457 problem documents. Every error response of the API is rendered
 * here, so they all carry the same members: type, title, status, detail,
 * instance, request_id and, for validation, errors[].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/problem.h"

/*
 * Render `err` as a problem document for the request `instance` (its path)
 * with `request_id`. Returns a malloc'ed NUL-terminated string the caller
 * frees, its length in *len; NULL only when memory ran out.
 */
char *
crm_problem_render(const struct crm_error *err, const char *instance,
    const char *request_id, size_t *len)
{
	json_t *doc, *v;
	char *out, type[96];

	out = NULL;
	(void)snprintf(type, sizeof(type), "%s%s", CRM_PROBLEM_TYPE_PREFIX,
	    crm_error_slug(err->kind));

	doc = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title",
	    crm_error_title(err->kind), "status", crm_error_status(err->kind),
	    "detail",
	    err->detail[0] != '\0' ? err->detail : crm_error_title(err->kind));
	if (doc == NULL)
		goto cleanup;

	/* A path that is not valid UTF-8 is left out rather than mangled. */
	if (instance != NULL && (v = json_string(instance)) != NULL &&
	    json_object_set_new(doc, "instance", v) != 0)
		goto cleanup;
	if (request_id != NULL &&
	    json_object_set_new(doc, "request_id", json_string(request_id)) !=
		0)
		goto cleanup;
	if (err->errors != NULL && json_array_size(err->errors) > 0 &&
	    json_object_set(doc, "errors", err->errors) != 0)
		goto cleanup;

	out = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (out != NULL && len != NULL)
		*len = strlen(out);

cleanup:
	json_decref(doc);
	return (out);
}
