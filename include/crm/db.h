/*
 * Asynchronous parameterised statements on Kore's pgsql pool. A handler
 * creates a query bound to its request, adds text parameters, and calls
 * crm_db_run() each time Kore runs it until it returns CRM_DB_DONE; then
 * the query holds the first column of the first row (the JSON text that
 * PostgreSQL built) or an error. The state machine lives here only.
 */
#ifndef CRM_DB_H
#define CRM_DB_H

#include <stddef.h>

#include "crm/error.h"

#define CRM_DB_NAME "crm"
#define CRM_DB_MAX_PARAMS 16

#define CRM_DB_PENDING 0 /* handler returns KORE_RESULT_RETRY */
#define CRM_DB_DONE 1

struct http_request;
struct crm_db;

int crm_db_init(const char *, int, struct crm_error *) CRM_MUSTCHECK;
int crm_db_warm(int);

struct crm_db *crm_db_new(struct http_request *, const char *);
void crm_db_free(struct crm_db *);
int crm_db_param(struct crm_db *, const char *, size_t) CRM_MUSTCHECK;
void crm_db_idempotent(struct crm_db *, const char *, const char *);
int crm_db_run(struct crm_db *);

const struct crm_error *crm_db_error(const struct crm_db *);
const char *crm_db_value(const struct crm_db *, size_t *);
const char *crm_db_detail(const struct crm_db *);

#endif
