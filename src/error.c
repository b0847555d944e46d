/*
 * The one table that maps error kinds to HTTP statuses and problem types,
 * and the one place SQLSTATEs become error kinds.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "crm/error.h"

static const struct {
	int status;
	const char *slug;
	const char *title;
} kinds[CRM_ERR_KIND_MAX] = {
    [CRM_ERR_NONE] = {200, "none", "OK"},
    [CRM_ERR_BAD_REQUEST] = {400, "bad-request", "Bad request"},
    [CRM_ERR_UNAUTHORIZED] = {401, "unauthorized", "Authentication required"},
    [CRM_ERR_FORBIDDEN] = {403, "forbidden", "Forbidden"},
    [CRM_ERR_NOT_FOUND] = {404, "not-found", "Not found"},
    [CRM_ERR_METHOD_NOT_ALLOWED] = {405, "method-not-allowed",
	"Method not allowed"},
    [CRM_ERR_NOT_ACCEPTABLE] = {406, "not-acceptable", "Not acceptable"},
    [CRM_ERR_CONFLICT] = {409, "conflict", "Conflict"},
    [CRM_ERR_PRECONDITION_FAILED] = {412, "precondition-failed",
	"Precondition failed"},
    [CRM_ERR_TOO_LARGE] = {413, "payload-too-large", "Payload too large"},
    [CRM_ERR_UNSUPPORTED_MEDIA] = {415, "unsupported-media-type",
	"Unsupported media type"},
    [CRM_ERR_VALIDATION] = {422, "validation-failed", "Validation failed"},
    [CRM_ERR_FAILED_DEPENDENCY] = {424, "failed-dependency",
	"Failed dependency"},
    [CRM_ERR_RATE_LIMITED] = {429, "rate-limited", "Too many requests"},
    [CRM_ERR_INTERNAL] = {500, "internal", "Internal server error"},
    [CRM_ERR_UNAVAILABLE] = {503, "unavailable", "Service unavailable"},
};

/* Initialise an embedded error to "no error". */
void
crm_error_init(struct crm_error *err)
{
	memset(err, 0, sizeof(*err));
}

/* Release what the error owns; it can be initialised and used again. */
void
crm_error_cleanup(struct crm_error *err)
{
	json_decref(err->errors);
	crm_error_init(err);
}

/*
 * Set the kind and a client-safe detail. Always returns CRM_ERROR so a
 * caller can write `return crm_error_set(err, ...)`.
 */
int
crm_error_set(struct crm_error *err, enum crm_error_kind kind, const char *fmt,
    ...)
{
	va_list ap;

	err->kind = kind;
	if (fmt == NULL) {
		err->detail[0] = '\0';
		return (CRM_ERROR);
	}

	va_start(ap, fmt);
	(void)vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);

	return (CRM_ERROR);
}

/*
 * Add one field error ({field, code, message}) to the problem's `errors`
 * list; the kind becomes validation unless one was already set.
 */
void
crm_error_field(struct crm_error *err, const char *field, const char *code,
    const char *message)
{
	json_t *item;

	if (err->kind == CRM_ERR_NONE)
		err->kind = CRM_ERR_VALIDATION;
	if (err->errors == NULL && (err->errors = json_array()) == NULL)
		return;

	item = json_pack("{s:s, s:s, s:s}", "field", field, "code", code,
	    "message", message);
	if (item != NULL)
		json_array_append_new(err->errors, item);
}

/* The HTTP status of an error kind. */
int
crm_error_status(enum crm_error_kind kind)
{
	if (kind < 0 || kind >= CRM_ERR_KIND_MAX)
		kind = CRM_ERR_INTERNAL;
	return (kinds[kind].status);
}

/* The stable last part of the problem `type` URI. */
const char *
crm_error_slug(enum crm_error_kind kind)
{
	if (kind < 0 || kind >= CRM_ERR_KIND_MAX)
		kind = CRM_ERR_INTERNAL;
	return (kinds[kind].slug);
}

/* The problem `title`: the same for every occurrence of a kind. */
const char *
crm_error_title(enum crm_error_kind kind)
{
	if (kind < 0 || kind >= CRM_ERR_KIND_MAX)
		kind = CRM_ERR_INTERNAL;
	return (kinds[kind].title);
}

/* The error kind whose HTTP status is `status`, or CRM_ERR_INTERNAL. */
static enum crm_error_kind
kind_of_status(int status)
{
	int k;

	for (k = CRM_ERR_BAD_REQUEST; k < CRM_ERR_KIND_MAX; k++) {
		if (kinds[k].status == status)
			return ((enum crm_error_kind)k);
	}

	return (CRM_ERR_INTERNAL);
}

/*
 * Map a failed statement to an error: the API's own errors, raised in SQL
 * with SQLSTATE CRnnn (see crm_raise in sql/0002_access.sql), become HTTP
 * nnn with their message as the detail, and the field errors their DETAIL
 * carries as a JSON array (crm_raise_fields) become the problem's errors;
 * every other state goes through crm_error_from_sqlstate().
 */
void
crm_error_from_pg(struct crm_error *err, const char *state, const char *message,
    const char *fields)
{
	json_t *list;
	int status;

	if (state != NULL && state[0] == 'C' && state[1] == 'R' &&
	    strlen(state) == 5) {
		(void)snprintf(err->sqlstate, sizeof(err->sqlstate), "%s",
		    state);
		status = atoi(state + 2);
		crm_error_set(err, kind_of_status(status), "%s",
		    message != NULL ? message : "");
		if (fields != NULL && fields[0] == '[' &&
		    (list = json_loads(fields, 0, NULL)) != NULL) {
			if (json_is_array(list)) {
				json_decref(err->errors);
				err->errors = list;
			} else {
				json_decref(list);
			}
		}
		return;
	}

	crm_error_from_sqlstate(err, state);
}

/*
 * Map a PostgreSQL SQLSTATE to an error kind with a client-safe detail.
 * The server's own message never reaches the client (it can name
 * constraints, columns and values); the caller logs it with the request
 * id. A NULL or empty state means the connection failed: 503.
 */
void
crm_error_from_sqlstate(struct crm_error *err, const char *state)
{
	if (state == NULL || state[0] == '\0') {
		err->retry_after = 1;
		crm_error_set(err, CRM_ERR_UNAVAILABLE,
		    "The database is unavailable; retry shortly.");
		return;
	}

	(void)snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state);

	if (!strcmp(state, "23505")) {
		crm_error_set(err, CRM_ERR_CONFLICT,
		    "A record with the same unique value already exists.");
	} else if (!strcmp(state, "23503")) {
		crm_error_set(err, CRM_ERR_VALIDATION,
		    "A referenced record does not exist.");
	} else if (!strcmp(state, "22P02") || !strcmp(state, "23514") ||
	    !strcmp(state, "23502") || !strcmp(state, "22001") ||
	    !strcmp(state, "22003") || !strcmp(state, "22007") ||
	    !strcmp(state, "22008") || !strcmp(state, "22023")) {
		crm_error_set(err, CRM_ERR_VALIDATION,
		    "A value was rejected by the database's rules.");
	} else if (!strcmp(state, "40001") || !strcmp(state, "40P01") ||
	    !strcmp(state, "55P03") || !strcmp(state, "57014")) {
		err->retry_after = 1;
		crm_error_set(err, CRM_ERR_UNAVAILABLE,
		    "The request conflicted with another; retry it.");
	} else if (!strcmp(state, "42501")) {
		/* RLS refused the row: the caller cannot see it. */
		crm_error_set(err, CRM_ERR_NOT_FOUND,
		    "The resource does not exist.");
	} else if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) ||
	    !strcmp(state, "53300")) {
		err->retry_after = 1;
		crm_error_set(err, CRM_ERR_UNAVAILABLE,
		    "The database is unavailable; retry shortly.");
	} else {
		crm_error_set(err, CRM_ERR_INTERNAL,
		    "An internal error occurred; quote the request id.");
	}
}
