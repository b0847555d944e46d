/* Strict JSON request bodies: one document, bounded, unambiguous. */
#ifndef CRM_JSON_H
#define CRM_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "crm/error.h"

#define CRM_JSON_MAX_DEPTH 32

int crm_json_depth_ok(const char *, size_t, int);
int crm_json_parse_object(const char *, size_t, json_t **,
    struct crm_error *) CRM_MUSTCHECK;
int crm_json_media_type_ok(const char *);

#endif
