/*
 * Idempotency-Key, the core without Kore: which keys are acceptable, the
 * hash that tells one request from another, and the arguments of the SQL
 * wrapper (crm_idempotent() in sql/0030_idempotency.sql) that runs a
 * request's statement once per key.
 */
#ifndef CRM_IDEMPOTENCY_H
#define CRM_IDEMPOTENCY_H

#include <jansson.h>

#include "crm/error.h"

#define CRM_IDEM_KEY_MAX 255
#define CRM_IDEM_HASH_LEN 64 /* hex characters */

/*
 * What runs instead of a request's statement: $1 the key, $2 the
 * request's hash, $3 the statement, $4 its parameters (a JSON array).
 */
#define CRM_IDEM_STATEMENT \
	"SELECT value, replayed FROM crm_idempotent($1, $2, $3, $4::jsonb)"

int crm_idem_key_valid(const char *);
int crm_idem_request_hash(const char *, const char *, const char *,
    const json_t *, char[CRM_IDEM_HASH_LEN + 1]) CRM_MUSTCHECK;
char *crm_idem_args(const char *const *, int);

#endif
