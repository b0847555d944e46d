/* Small helpers shared by the core: request ids and time formatting. */
#ifndef CRM_UTIL_H
#define CRM_UTIL_H

#include <stddef.h>

#define CRM_REQUEST_ID_LEN 32 /* hex chars of a generated id */
#define CRM_REQUEST_ID_MAX 64 /* longest accepted from a proxy */

int crm_request_id_new(char *, size_t);
int crm_request_id_valid(const char *);
void crm_rfc3339_ms(long long, char *, size_t);

#endif
