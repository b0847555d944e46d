/*
 * Path matching for the route table: patterns are literal segments and
 * {name} placeholders that match one non-empty segment.
 */
#ifndef CRM_ROUTE_H
#define CRM_ROUTE_H

#include <stddef.h>

#define CRM_ROUTE_MAX_PARAMS 4
#define CRM_ROUTE_PARAM_MAX 128

struct crm_route_params {
	int count;
	char value[CRM_ROUTE_MAX_PARAMS][CRM_ROUTE_PARAM_MAX];
};

int crm_route_match(const char *, const char *, struct crm_route_params *);

#endif
