/*
 * Bulk imports and exports on a blocking libpq connection of their own,
 * for Kore task threads (never the event loop, never Kore's pool: an
 * import holds its transaction open across many statements). Nothing
 * here touches Kore; the caller hands over the body as a read function.
 */
#ifndef CRM_BULK_H
#define CRM_BULK_H

#include <sys/types.h>

#include <jansson.h>

#include "crm/error.h"
#include "crm/import.h"

#define CRM_BULK_APP_NAME "crm-bulk"
#define CRM_BULK_CHUNK 65536

/* Where the body comes from: read up to `size` bytes; 0 at its end. */
struct crm_bulk_source {
	ssize_t (*read)(void *, char *, size_t);
	void *arg;
};

struct crm_import_request {
	const char *conninfo;
	const char *principal; /* crm_bind()'s JSON */
	const struct crm_import_spec *spec;
	int format; /* CRM_IMPORT_CSV or CRM_IMPORT_NDJSON */
	int upsert;
	int atomic;
	int dry_run;
	struct crm_bulk_source body;
};

/* What to answer: status 200 and the report, or a problem (err). */
struct crm_bulk_result {
	int status;
	json_t *report; /* the answer (also inside a 422 problem); owned */
	struct crm_error err;
	char log[512]; /* the database's own message, for the log only */
	int conn_fd; /* the job's database socket while it is open, else -1 */
};

/* An export: the resource's list, page after page, as CSV into `fd`. */
struct crm_export_request {
	const char *conninfo;
	const char *principal;
	const char *resource; /* customers, contacts, ... */
	const char *statement; /* its list: "SELECT api_x_list($1, $2)" */
	const char *filters; /* the list's query parameters, JSON text */
	int fd;
};

#define CRM_EXPORT_PAGE 1000

void crm_bulk_result_init(struct crm_bulk_result *);
void crm_bulk_result_cleanup(struct crm_bulk_result *);
void
crm_import_run(const struct crm_import_request *, struct crm_bulk_result *);
void
crm_export_run(const struct crm_export_request *, struct crm_bulk_result *);

#endif
