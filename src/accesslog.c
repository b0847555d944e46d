/*
 * The access log: one JSON object per line, so it can be shipped and
 * queried without parsing free text. Query strings are left out (they can
 * carry search terms and cursors that are nobody's business in a log).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crm/accesslog.h"
#include "crm/util.h"

/* Add `value` under `key` unless it is NULL or not valid UTF-8. */
static void
set_string(json_t *obj, const char *key, const char *value)
{
	json_t *v;

	if (value != NULL && (v = json_string(value)) != NULL)
		json_object_set_new(obj, key, v);
}

/*
 * Render one access-log line, newline included. Returns a malloc'ed string
 * the caller frees (its length in *len), or NULL when memory ran out.
 */
char *
crm_accesslog_line(const struct crm_access *a, size_t *len)
{
	json_t *obj;
	char *out, *line, ts[40];
	size_t n;

	line = NULL;
	crm_rfc3339_ms(a->time_ms, ts, sizeof(ts));

	if ((obj = json_object()) == NULL)
		return (NULL);
	set_string(obj, "ts", ts);
	set_string(obj, "level", "info");
	set_string(obj, "msg", "request");
	set_string(obj, "request_id", a->request_id);
	set_string(obj, "method", a->method);
	set_string(obj, "path", a->path);
	set_string(obj, "route", a->route);
	json_object_set_new(obj, "status", json_integer(a->status));
	json_object_set_new(obj, "duration_ms",
	    json_real((double)(long long)(a->duration_ms * 1000) / 1000.0));
	set_string(obj, "remote", a->remote);
	set_string(obj, "user_agent", a->user_agent);

	out = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (out == NULL)
		return (NULL);

	n = strlen(out);
	if ((line = malloc(n + 2)) != NULL) {
		memcpy(line, out, n);
		line[n] = '\n';
		line[n + 1] = '\0';
		*len = n + 1;
	}
	free(out);

	return (line);
}
