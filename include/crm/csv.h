/* CSV renderings of the API's JSON answers (reports and lists). */
#ifndef CRM_CSV_H
#define CRM_CSV_H

#include <stddef.h>

#include <jansson.h>

int crm_csv_accepted(const char *);
json_t *crm_csv_rows(json_t *);
char *crm_csv_render(json_t *, size_t *);
char *crm_csv_line(json_t *, size_t *);

#endif
