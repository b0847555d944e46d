/*
 * Declarative validation of request input: JSON bodies against a field
 * list, and query strings against a parameter list. Every problem is
 * collected (field, code, message), not just the first, and unknown names
 * are errors, so a typo never passes silently.
 */
#ifndef CRM_VALIDATE_H
#define CRM_VALIDATE_H

#include <stddef.h>

#include <jansson.h>

#include "crm/error.h"

enum crm_type {
	CRM_T_TEXT, /* a string of min..max characters */
	CRM_T_EMAIL, /* a plausible address, <= 254 bytes */
	CRM_T_ENUM, /* one of `values` */
	CRM_T_UUID, /* a canonical UUID */
	CRM_T_BOOL,
	CRM_T_INT, /* integer in min..max */
	CRM_T_PASSWORD, /* min..max characters */
	CRM_T_ENUM_ARRAY, /* non-empty array of distinct `values` */
	CRM_T_TIME, /* RFC 3339 date-time with offset */
	CRM_T_CURSOR, /* an opaque list cursor */
	CRM_T_PHONE, /* digits with + - ( ) . space, 3-40 chars */
	CRM_T_URL, /* http(s)://..., at most max characters */
	CRM_T_TEXT_ARRAY, /* up to 50 distinct strings of min..max chars */
	CRM_T_PHONE_ARRAY, /* up to 10 distinct phone numbers */
	CRM_T_OBJECT, /* any JSON object (checked further by the database) */
	CRM_T_UUID_ARRAY, /* 1..max distinct UUIDs */
	CRM_T_DATE, /* YYYY-MM-DD, a real calendar date */
	CRM_T_DECIMAL, /* "1234.56": exact, >= 0, `min` decimals, `max` digits */
	CRM_T_OBJECT_ARRAY, /* min..max JSON objects (checked by the database) */
};

#define CRM_F_REQUIRED 0x01
#define CRM_F_NULLABLE 0x02

struct crm_field {
	const char *name;
	enum crm_type type;
	int flags;
	long long min;
	long long max;
	const char *const *values; /* NULL-terminated, for enums */
};

int crm_validate_object(json_t *, const struct crm_field *, int,
    struct crm_error *) CRM_MUSTCHECK;
int crm_qs_parse(const char *, const struct crm_field *, json_t **,
    struct crm_error *) CRM_MUSTCHECK;
int crm_uuid_valid(const char *);

#endif
