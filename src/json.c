/*
 * Strict parsing of JSON request bodies. Every layer (this server, jansson,
 * PostgreSQL) must read the same document, so duplicate keys are refused
 * (Kore keeps the first, jansson and PostgreSQL the last), nesting is
 * capped before jansson recurses, and invalid UTF-8 and NUL are refused
 * here rather than by PostgreSQL later.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "crm/json.h"

/*
 * Return 1 when no array or object in `buf` nests deeper than `max`,
 * scanning outside string literals only. Cheap and allocation-free, it runs
 * before jansson so a hostile body cannot make the parser recurse deeply.
 */
int
crm_json_depth_ok(const char *buf, size_t len, int max)
{
	size_t i;
	int depth, in_string;

	depth = 0;
	in_string = 0;

	for (i = 0; i < len; i++) {
		if (in_string) {
			if (buf[i] == '\\')
				i++;
			else if (buf[i] == '"')
				in_string = 0;
			continue;
		}
		switch (buf[i]) {
		case '"':
			in_string = 1;
			break;
		case '{':
		case '[':
			if (++depth > max)
				return (0);
			break;
		case '}':
		case ']':
			depth--;
			break;
		}
	}

	return (1);
}

/*
 * Parse `buf` as exactly one JSON object. On success *out is a new
 * reference the caller releases. On failure returns CRM_ERROR with `err`
 * describing where the document broke (400), or why it was refused.
 */
int
crm_json_parse_object(const char *buf, size_t len, json_t **out,
    struct crm_error *err)
{
	json_error_t jerr;
	json_t *doc;

	*out = NULL;

	if (len == 0)
		return (crm_error_set(err, CRM_ERR_BAD_REQUEST,
		    "The request body is empty; a JSON object is required."));

	if (!crm_json_depth_ok(buf, len, CRM_JSON_MAX_DEPTH))
		return (crm_error_set(err, CRM_ERR_BAD_REQUEST,
		    "The JSON document nests deeper than %d levels.",
		    CRM_JSON_MAX_DEPTH));

	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL)
		return (crm_error_set(err, CRM_ERR_BAD_REQUEST,
		    "Malformed JSON at line %d, column %d: %s.", jerr.line,
		    jerr.column, jerr.text));

	if (!json_is_object(doc)) {
		json_decref(doc);
		return (crm_error_set(err, CRM_ERR_BAD_REQUEST,
		    "The request body must be a JSON object."));
	}

	*out = doc;
	return (CRM_OK);
}

/*
 * Return 1 when a Content-Type names JSON: application/json or any
 * application/<x>+json, with optional parameters (charset must be utf-8).
 */
int
crm_json_media_type_ok(const char *ctype)
{
	const char *semi, *slash, *cs;
	size_t len;

	if (ctype == NULL)
		return (0);

	while (*ctype == ' ')
		ctype++;
	semi = strchr(ctype, ';');
	len = semi != NULL ? (size_t)(semi - ctype) : strlen(ctype);
	while (len > 0 && ctype[len - 1] == ' ')
		len--;

	if (len < 16 || strncasecmp(ctype, "application/", 12) != 0)
		return (0);
	slash = ctype + 12;
	if (!(len == 16 && strncasecmp(slash, "json", 4) == 0) &&
	    !(len > 17 && strncasecmp(ctype + len - 5, "+json", 5) == 0))
		return (0);

	if (semi != NULL && (cs = strcasestr(semi, "charset=")) != NULL) {
		cs += 8;
		if (*cs == '"')
			cs++;
		if (strncasecmp(cs, "utf-8", 5) != 0)
			return (0);
	}

	return (1);
}
