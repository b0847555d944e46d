/*
 * Matching request paths against route patterns such as
 * "/v1/customers/{id}/contacts". A placeholder matches one non-empty
 * segment of at most CRM_ROUTE_PARAM_MAX - 1 bytes; anything else must be
 * equal byte for byte. A trailing slash is a different path (404), as in
 * most APIs, so that one resource has one URL.
 */
#include <string.h>

#include "crm/route.h"

/*
 * Return 1 when `path` matches `pattern`, filling `params` (which may be
 * NULL) with the placeholder values in order; 0 otherwise.
 */
int
crm_route_match(const char *pattern, const char *path,
    struct crm_route_params *params)
{
	const char *p, *q, *end;
	size_t len;
	int count;

	p = pattern;
	q = path;
	count = 0;

	while (*p != '\0') {
		if (*p != '{') {
			if (*p != *q)
				return (0);
			p++;
			q++;
			continue;
		}

		/* A placeholder: skip to its '}' and take one segment. */
		if ((p = strchr(p, '}')) == NULL)
			return (0);
		p++;

		end = strchr(q, '/');
		len = end != NULL ? (size_t)(end - q) : strlen(q);
		if (len == 0 || len >= CRM_ROUTE_PARAM_MAX ||
		    count >= CRM_ROUTE_MAX_PARAMS)
			return (0);

		if (params != NULL) {
			memcpy(params->value[count], q, len);
			params->value[count][len] = '\0';
		}
		count++;
		q += len;
	}

	if (*q != '\0')
		return (0);
	if (params != NULL)
		params->count = count;

	return (1);
}
