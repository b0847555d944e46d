/* One JSON line per request, for log shippers. */
#ifndef CRM_ACCESSLOG_H
#define CRM_ACCESSLOG_H

#include <stddef.h>

struct crm_access {
	const char *request_id;
	const char *method;
	const char *path;
	const char *route;
	const char *remote;
	const char *user_agent;
	int status;
	double duration_ms;
	long long time_ms; /* wall clock, ms since the epoch */
};

char *crm_accesslog_line(const struct crm_access *, size_t *);

#endif
