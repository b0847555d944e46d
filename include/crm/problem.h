/* RFC 9457 problem documents built from a struct crm_error. */
#ifndef CRM_PROBLEM_H
#define CRM_PROBLEM_H

#include <stddef.h>

#include "crm/error.h"

#define CRM_PROBLEM_TYPE_PREFIX "urn:crm:problem:"

char *crm_problem_render(const struct crm_error *, const char *, const char *,
    size_t *) CRM_MUSTCHECK;

#endif
