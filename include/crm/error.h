/*
 * Errors of the core: a kind that maps to one HTTP status and problem type,
 * the field at fault, a detail safe to show a client, and for database
 * errors the SQLSTATE. Functions that can fail return CRM_OK/CRM_ERROR and
 * fill a caller-provided struct crm_error.
 */
#ifndef CRM_ERROR_H
#define CRM_ERROR_H

#include <jansson.h>

#define CRM_OK 1
#define CRM_ERROR 0

#if defined(__GNUC__)
#define CRM_MUSTCHECK __attribute__((warn_unused_result))
#else
#define CRM_MUSTCHECK
#endif

enum crm_error_kind {
	CRM_ERR_NONE = 0,
	CRM_ERR_BAD_REQUEST, /* 400 malformed syntax */
	CRM_ERR_UNAUTHORIZED, /* 401 */
	CRM_ERR_FORBIDDEN, /* 403 */
	CRM_ERR_NOT_FOUND, /* 404 */
	CRM_ERR_METHOD_NOT_ALLOWED, /* 405 */
	CRM_ERR_NOT_ACCEPTABLE, /* 406 */
	CRM_ERR_CONFLICT, /* 409 */
	CRM_ERR_PRECONDITION_FAILED, /* 412 */
	CRM_ERR_TOO_LARGE, /* 413 */
	CRM_ERR_UNSUPPORTED_MEDIA, /* 415 */
	CRM_ERR_VALIDATION, /* 422 */
	CRM_ERR_FAILED_DEPENDENCY, /* 424: not done because another part failed */
	CRM_ERR_RATE_LIMITED, /* 429 */
	CRM_ERR_INTERNAL, /* 500 */
	CRM_ERR_UNAVAILABLE, /* 503 */
	CRM_ERR_KIND_MAX
};

struct crm_error {
	enum crm_error_kind kind;
	char detail[256];
	char sqlstate[6];
	int retry_after; /* seconds, 0 = none */
	json_t *errors; /* owned: [{field,code,message}] */
};

void crm_error_init(struct crm_error *);
void crm_error_cleanup(struct crm_error *);
int crm_error_set(struct crm_error *, enum crm_error_kind, const char *, ...)
    __attribute__((format(printf, 3, 4)));
void
crm_error_field(struct crm_error *, const char *, const char *, const char *);
int crm_error_status(enum crm_error_kind);
const char *crm_error_slug(enum crm_error_kind);
const char *crm_error_title(enum crm_error_kind);
void crm_error_from_sqlstate(struct crm_error *, const char *);
void
crm_error_from_pg(struct crm_error *, const char *, const char *, const char *);

#endif
