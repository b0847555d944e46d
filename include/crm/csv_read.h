/*
 * Reading CSV as it streams in (RFC 4180: quoted fields with commas,
 * quotes and line breaks; CRLF or LF line ends; an optional UTF-8 byte
 * order mark). Bytes are fed in chunks of any size; each complete record
 * is handed to a callback with the line it starts on, or with the reason
 * it could not be read, after which reading resumes on the next line.
 */
#ifndef CRM_CSV_READ_H
#define CRM_CSV_READ_H

#include <stddef.h>

#include "crm/error.h"

#define CRM_CSV_RECORD_MAX (1024 * 1024) /* bytes of one record */
#define CRM_CSV_FIELDS_MAX 1000 /* fields of one record */

struct crm_csv_record {
	long line; /* the physical line it starts on, from 1 */
	size_t nfields;
	char **fields; /* NUL-terminated, valid until the callback returns */
	const size_t *lens;
	const char *error; /* NULL, or why the record is unreadable */
};

/* Return 1 to go on, 0 to stop reading. */
typedef int (*crm_csv_cb)(const struct crm_csv_record *, void *);

struct crm_csv_reader;

struct crm_csv_reader *crm_csv_reader_new(size_t);
void crm_csv_reader_free(struct crm_csv_reader *);
int crm_csv_reader_feed(struct crm_csv_reader *, const char *, size_t,
    crm_csv_cb, void *) CRM_MUSTCHECK;
int
crm_csv_reader_end(struct crm_csv_reader *, crm_csv_cb, void *) CRM_MUSTCHECK;
int crm_utf8_valid(const char *, size_t);

#endif
