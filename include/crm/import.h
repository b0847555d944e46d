/*
 * Bulk imports, the part that needs no database: reading a CSV (header
 * row) or NDJSON file as it streams in, turning each line into the JSON
 * object the single-record route would receive, validating it with that
 * route's own field list, and writing the lines out as COPY text for the
 * staging table; every refusal is kept against its line (the first
 * CRM_IMPORT_ERRORS_MAX of them, all counted).
 */
#ifndef CRM_IMPORT_H
#define CRM_IMPORT_H

#include <stddef.h>

#include <jansson.h>

#include "crm/error.h"
#include "crm/validate.h"

#define CRM_IMPORT_CSV 1
#define CRM_IMPORT_NDJSON 2
#define CRM_IMPORT_ERRORS_MAX 1000

/*
 * A field of the record that holds an object (or, for an array of
 * objects, one object per CSV line): CSV columns <name>.<key> fill it,
 * their cells typed by `fields` (the database checks what they hold).
 */
struct crm_import_nested {
	const char *name;
	const struct crm_field *fields;
};

/*
 * What a resource's import reads: `fields` is the create route's field
 * list (the same array the route table uses), `extra` the import's own
 * columns (owner_email), `custom` whether custom.<key> columns name the
 * organisation's custom fields, `nested` the object fields CSV columns
 * may fill (NULL-terminated), `partial` whether one record may take
 * several lines (an order and its lines): the lines are then checked as
 * merge patches and the database checks what the whole record requires.
 */
struct crm_import_spec {
	const char *resource;
	const struct crm_field *fields;
	const struct crm_field *extra;
	int custom;
	const struct crm_import_nested *nested;
	int partial;
};

struct crm_import_column;
struct crm_csv_reader;

struct crm_import {
	const struct crm_import_spec *spec;
	int format;
	int upsert; /* lines may update: required fields checked by SQL */
	json_t *custom; /* {key: type} of the custom fields (owned) */
	struct crm_csv_reader *csv;
	struct crm_import_column *columns;
	size_t ncolumns;
	int header; /* the CSV header was read */
	char *pending; /* NDJSON: the line read so far */
	size_t pending_len;
	size_t pending_size;
	int skipping; /* NDJSON: the line is too long, skip to its end */
	long line; /* NDJSON: the line being read */
	long read; /* records read */
	long failed; /* records refused */
	long errors_total;
	json_t *errors; /* the first errors: [{line, field, code, message}] */
	char *out; /* COPY text of the lines done, drained by the caller */
	size_t out_len;
	size_t out_size;
	struct crm_error fatal; /* a problem of the whole file */
	int oom;
};

int crm_import_init(struct crm_import *, const struct crm_import_spec *, int,
    json_t *) CRM_MUSTCHECK;
void crm_import_cleanup(struct crm_import *);
int crm_import_feed(struct crm_import *, const char *, size_t) CRM_MUSTCHECK;
int crm_import_finish(struct crm_import *) CRM_MUSTCHECK;
void crm_import_drain(struct crm_import *);
int crm_import_media_type(const char *);
json_t *crm_import_report(const struct crm_import *, json_t *, int);
char *crm_import_problem(const struct crm_error *, json_t *, const char *,
    const char *, size_t *);

#endif
