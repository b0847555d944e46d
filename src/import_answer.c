/*
 * The answers of bulk imports (see include/crm/import.h): which format a
 * Content-Type names, the report that merges the file's errors with the
 * database's, and the problem document of an atomic import that wrote
 * nothing, which carries that report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crm/import.h"
#include "crm/problem.h"

/*
 * The format a Content-Type names: CRM_IMPORT_CSV for text/csv,
 * CRM_IMPORT_NDJSON for application/x-ndjson (or application/ndjson);
 * 0 for anything else, or a charset other than UTF-8.
 */
int
crm_import_media_type(const char *ctype)
{
	const char *semi, *cs;
	size_t len;
	int format;

	if (ctype == NULL)
		return (0);
	while (*ctype == ' ')
		ctype++;
	semi = strchr(ctype, ';');
	len = semi != NULL ? (size_t)(semi - ctype) : strlen(ctype);
	while (len > 0 && ctype[len - 1] == ' ')
		len--;

	if (len == 8 && strncasecmp(ctype, "text/csv", 8) == 0)
		format = CRM_IMPORT_CSV;
	else if ((len == 20 &&
		     strncasecmp(ctype, "application/x-ndjson", 20) == 0) ||
	    (len == 18 && strncasecmp(ctype, "application/ndjson", 18) == 0))
		format = CRM_IMPORT_NDJSON;
	else
		return (0);

	if (semi != NULL && (cs = strcasestr(semi, "charset=")) != NULL) {
		cs += 8;
		if (*cs == '"')
			cs++;
		if (strncasecmp(cs, "utf-8", 5) != 0 ||
		    (cs[5] != '\0' && cs[5] != '"' && cs[5] != ';' &&
			cs[5] != ' '))
			return (0);
	}

	return (format);
}

/*
 * The import's answer, a new object: {read, inserted, updated, failed,
 * errors_total, errors}, the file's figures and errors together with the
 * database's part `db` (api_import_merge's answer, or NULL), the errors
 * merged by line within the cap. `counts` 0 reports nothing written (an
 * atomic import that failed).
 */
json_t *
crm_import_report(const struct crm_import *imp, json_t *db, int counts)
{
	json_t *doc, *errors, *theirs, *a, *b;
	size_t i, j;
	json_int_t inserted, updated, failed, total;

	theirs = json_object_get(db, "errors");
	inserted = json_integer_value(json_object_get(db, "inserted"));
	updated = json_integer_value(json_object_get(db, "updated"));
	failed = json_integer_value(json_object_get(db, "failed"));
	total = json_integer_value(json_object_get(db, "errors_total"));

	if ((errors = json_array()) == NULL)
		return (NULL);
	i = j = 0;
	while (json_array_size(errors) < CRM_IMPORT_ERRORS_MAX) {
		a = json_array_get(imp->errors, i);
		b = json_array_get(theirs, j);
		if (a == NULL && b == NULL)
			break;
		if (b == NULL ||
		    (a != NULL &&
			json_integer_value(json_object_get(a, "line")) <=
			    json_integer_value(json_object_get(b, "line")))) {
			(void)json_array_append(errors, a);
			i++;
		} else {
			(void)json_array_append(errors, b);
			j++;
		}
	}

	doc = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "read",
	    (json_int_t)imp->read, "inserted", counts ? inserted : 0, "updated",
	    counts ? updated : 0, "failed", (json_int_t)imp->failed + failed,
	    "errors_total", (json_int_t)imp->errors_total + total, "errors",
	    errors);

	return (doc);
}

/*
 * A problem document for `err` that also carries the import's `report`
 * (its members beside type, title, status...; its errors as the
 * problem's): the answer of an atomic import that wrote nothing. Returns
 * a malloc'ed string of *len bytes, NULL when memory ran out.
 */
char *
crm_import_problem(const struct crm_error *err, json_t *report,
    const char *instance, const char *request_id, size_t *len)
{
	json_t *doc, *v;
	const char *key;
	char *text, *out;

	if ((text = crm_problem_render(err, instance, request_id, len)) == NULL)
		return (NULL);
	doc = json_loads(text, JSON_PRESERVE_ORDER, NULL);
	free(text);
	if (doc == NULL)
		return (NULL);
	json_object_foreach(report, key, v)
	{
		if (json_object_get(doc, key) == NULL || !strcmp(key, "errors"))
			(void)json_object_set(doc, key, v);
	}
	out = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (out != NULL && len != NULL)
		*len = strlen(out);

	return (out);
}
