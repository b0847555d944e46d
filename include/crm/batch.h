/*
 * Batch writes (POST /v1/{resource}/batch): the checks of each item before
 * the database sees it, and the answer assembled from what the database
 * did. No Kore here: items, results and problems are jansson values.
 */
#ifndef CRM_BATCH_H
#define CRM_BATCH_H

#include <stddef.h>

#include <jansson.h>

#include "crm/error.h"
#include "crm/validate.h"

#define CRM_BATCH_MAX 500 /* items per request */

/*
 * What one resource's batch takes: its name in SQL (api_batch), the field
 * lists of its single-record routes (create and upsert data against
 * `create`, update data, a merge patch, against `update`), whether it has
 * external ids to upsert by, and whether items name the customer a new
 * record belongs to (contacts: the single route has it in the path).
 */
struct crm_batch_kind {
	const char *resource;
	const struct crm_field *create;
	const struct crm_field *update;
	int upsert;
	int parent;
};

int crm_batch_check(const struct crm_batch_kind *, json_t *, int, const char *,
    const char *, json_t **, json_t **) CRM_MUSTCHECK;
char *crm_batch_answer(json_t *, const char *, size_t, int, const char *,
    const char *, json_t *, size_t *);

#endif
