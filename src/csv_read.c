/*
 * A streaming RFC 4180 reader for bulk imports. The reader keeps one
 * record at a time (never the file): bytes arrive in chunks of any size,
 * cut anywhere, even inside a UTF-8 sequence or between CR and LF.
 *
 * What it accepts: fields separated by commas; a field in double quotes
 * may hold commas, line breaks and doubled quotes (""); records end with
 * LF, CRLF or a lone CR; a UTF-8 byte order mark at the very start is
 * skipped; blank lines are skipped. What it refuses, one record at a time
 * (the callback gets the reason and reading resumes after the physical
 * line where the trouble was seen): a quote inside an unquoted field,
 * anything but a comma or a line end after a closing quote, a quoted
 * field never closed, a record over the size or field limits, invalid
 * UTF-8 and NUL bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "crm/csv_read.h"

enum {
	ST_START, /* at the start of a field */
	ST_UNQUOTED, /* inside a field without quotes */
	ST_QUOTED, /* inside a quoted field */
	ST_QUOTE, /* a quote inside a quoted field: closing, or "" */
	ST_CR, /* after a CR that ended a record: swallow an LF */
	ST_SKIP, /* after an error: skip to the end of the line */
};

struct crm_csv_reader {
	size_t max;
	int state;
	size_t seen; /* bytes fed so far (for the byte order mark) */
	unsigned char bom[3];
	long line; /* the physical line being read */
	long record_line; /* where the current record started */
	size_t raw; /* bytes of the current record, as written */
	char *buf; /* the record's fields, each NUL-terminated */
	size_t len;
	size_t size;
	size_t *starts; /* where each field starts in buf */
	size_t *lens;
	char **fields;
	size_t nfields;
	size_t field_start;
	int oom;
};

static int byte(struct crm_csv_reader *, char, crm_csv_cb, void *);
static int put(struct crm_csv_reader *, char);
static int field_end(struct crm_csv_reader *);
static int record_end(struct crm_csv_reader *, crm_csv_cb, void *);
static int fail(struct crm_csv_reader *, const char *, crm_csv_cb, void *);
static int limit(struct crm_csv_reader *, int, crm_csv_cb, void *);
static void record_reset(struct crm_csv_reader *);

/*
 * A new reader refusing records over `max` bytes (0: CRM_CSV_RECORD_MAX).
 * Returns NULL when memory runs out; free it with crm_csv_reader_free().
 */
struct crm_csv_reader *
crm_csv_reader_new(size_t max)
{
	struct crm_csv_reader *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->max = max != 0 ? max : CRM_CSV_RECORD_MAX;
	r->line = 1;
	r->record_line = 1;
	r->starts = calloc(CRM_CSV_FIELDS_MAX, sizeof(*r->starts));
	r->lens = calloc(CRM_CSV_FIELDS_MAX, sizeof(*r->lens));
	r->fields = calloc(CRM_CSV_FIELDS_MAX, sizeof(*r->fields));
	if (r->starts == NULL || r->lens == NULL || r->fields == NULL) {
		crm_csv_reader_free(r);
		return (NULL);
	}

	return (r);
}

void
crm_csv_reader_free(struct crm_csv_reader *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r->starts);
	free(r->lens);
	free(r->fields);
	free(r);
}

/*
 * Read `len` more bytes of the file, calling `cb` for every record they
 * complete. Returns CRM_ERROR when `cb` asked to stop or memory ran out.
 */
int
crm_csv_reader_feed(struct crm_csv_reader *r, const char *data, size_t len,
    crm_csv_cb cb, void *arg)
{
	static const unsigned char mark[3] = {0xef, 0xbb, 0xbf};
	size_t i, j, held;

	for (i = 0; i < len; i++) {
		/* A byte order mark is held back until it is complete. */
		if (r->seen < 3) {
			r->bom[r->seen] = (unsigned char)data[i];
			if (r->bom[r->seen] == mark[r->seen]) {
				r->seen++;
				continue;
			}
			/* Not a mark: what was held back is data. */
			held = r->seen;
			r->seen = 3;
			for (j = 0; j <= held; j++) {
				if (!byte(r, (char)r->bom[j], cb, arg))
					return (CRM_ERROR);
			}
			continue;
		}
		if (!byte(r, data[i], cb, arg))
			return (CRM_ERROR);
	}

	return (r->oom ? CRM_ERROR : CRM_OK);
}

/*
 * The end of the file: hand over the last record (a file need not end
 * with a line break), or the quoted field left open. Returns as feed().
 */
int
crm_csv_reader_end(struct crm_csv_reader *r, crm_csv_cb cb, void *arg)
{
	size_t j, held;
	int rc;

	if (r->seen < 3) {
		/* A file that ends inside what began as a byte order mark. */
		held = r->seen;
		r->seen = 3;
		for (j = 0; j < held; j++) {
			if (!byte(r, (char)r->bom[j], cb, arg))
				return (CRM_ERROR);
		}
	}

	switch (r->state) {
	case ST_QUOTED:
		return (fail(r, "a quoted field is never closed", cb, arg)
			? CRM_OK
			: CRM_ERROR);
	case ST_UNQUOTED:
	case ST_QUOTE:
		if ((rc = field_end(r)) != 1)
			return (limit(r, rc, cb, arg) ? CRM_OK : CRM_ERROR);
		return (record_end(r, cb, arg) ? CRM_OK : CRM_ERROR);
	case ST_START:
		if (r->raw == 0)
			return (CRM_OK);
		if ((rc = field_end(r)) != 1)
			return (limit(r, rc, cb, arg) ? CRM_OK : CRM_ERROR);
		return (record_end(r, cb, arg) ? CRM_OK : CRM_ERROR);
	default:
		return (CRM_OK);
	}
}

/* One byte of the file (after the byte order mark). 0: stop. */
static int
byte(struct crm_csv_reader *r, char c, crm_csv_cb cb, void *arg)
{
	int rc;

	switch (r->state) {
	case ST_CR:
		r->state = ST_START;
		if (c == '\n')
			return (1);
		/* FALLTHROUGH */
	case ST_START:
		if (r->raw == 0)
			r->record_line = r->line;
		if (c == '\n' || c == '\r') {
			r->line++;
			if (r->raw == 0) {
				/* A blank line. */
				r->state = c == '\r' ? ST_CR : ST_START;
				return (1);
			}
			if ((rc = field_end(r)) != 1)
				return (limit(r, rc, cb, arg));
			r->state = c == '\r' ? ST_CR : ST_START;
			return (record_end(r, cb, arg));
		}
		r->raw++;
		if (c == '"') {
			r->state = ST_QUOTED;
			return (1);
		}
		if (c == ',')
			return (limit(r, field_end(r), cb, arg));
		r->state = ST_UNQUOTED;
		return (limit(r, put(r, c), cb, arg));
	case ST_UNQUOTED:
		if (c == '\n' || c == '\r') {
			r->line++;
			if ((rc = field_end(r)) != 1)
				return (limit(r, rc, cb, arg));
			r->state = c == '\r' ? ST_CR : ST_START;
			return (record_end(r, cb, arg));
		}
		r->raw++;
		if (c == ',') {
			r->state = ST_START;
			return (limit(r, field_end(r), cb, arg));
		}
		if (c == '"')
			return (fail(r,
			    "a quote inside a field that does not start with "
			    "one "
			    "(quote the whole field and double its quotes)",
			    cb, arg));
		return (limit(r, put(r, c), cb, arg));
	case ST_QUOTED:
		r->raw++;
		if (c == '\n')
			r->line++;
		if (c == '"') {
			r->state = ST_QUOTE;
			return (1);
		}
		return (limit(r, put(r, c), cb, arg));
	case ST_QUOTE:
		if (c == '"') {
			r->raw++;
			r->state = ST_QUOTED;
			return (limit(r, put(r, c), cb, arg));
		}
		if (c == ',') {
			r->raw++;
			r->state = ST_START;
			return (limit(r, field_end(r), cb, arg));
		}
		if (c == '\n' || c == '\r') {
			r->line++;
			if ((rc = field_end(r)) != 1)
				return (limit(r, rc, cb, arg));
			r->state = c == '\r' ? ST_CR : ST_START;
			return (record_end(r, cb, arg));
		}
		return (fail(r,
		    "a quoted field goes on after its closing quote", cb, arg));
	default: /* ST_SKIP */
		if (c == '\n' || c == '\r') {
			r->line++;
			r->state = c == '\r' ? ST_CR : ST_START;
		}
		return (1);
	}
}

/* Append a byte of field data, within the record's limit. */
static int
put(struct crm_csv_reader *r, char c)
{
	size_t size;
	char *p;

	if (r->len + 2 > r->max)
		return (-1);
	if (r->len + 2 > r->size) {
		size = r->size == 0 ? 256 : r->size * 2;
		if (size > r->max)
			size = r->max;
		if ((p = realloc(r->buf, size)) == NULL) {
			r->oom = 1;
			return (0);
		}
		r->buf = p;
		r->size = size;
	}
	r->buf[r->len++] = c;

	return (1);
}

/* Close the current field. */
static int
field_end(struct crm_csv_reader *r)
{
	int ok;

	if (r->nfields >= CRM_CSV_FIELDS_MAX)
		return (-2);
	if ((ok = put(r, '\0')) != 1)
		return (ok);
	r->starts[r->nfields] = r->field_start;
	r->lens[r->nfields] = r->len - 1 - r->field_start;
	r->nfields++;
	r->field_start = r->len;

	return (1);
}

/* Hand the finished record over, checked for UTF-8 and NUL bytes. */
static int
record_end(struct crm_csv_reader *r, crm_csv_cb cb, void *arg)
{
	struct crm_csv_record rec;
	size_t i;
	int go;

	memset(&rec, 0, sizeof(rec));
	rec.line = r->record_line;
	rec.nfields = r->nfields;
	rec.fields = r->fields;
	rec.lens = r->lens;
	for (i = 0; i < r->nfields; i++) {
		r->fields[i] = r->buf + r->starts[i];
		if (rec.error == NULL &&
		    memchr(r->fields[i], '\0', r->lens[i]) != NULL)
			rec.error = "the line holds a NUL byte";
		if (rec.error == NULL &&
		    !crm_utf8_valid(r->fields[i], r->lens[i]))
			rec.error = "the line is not valid UTF-8";
	}
	if (rec.error != NULL)
		rec.nfields = 0;
	go = cb(&rec, arg);
	record_reset(r);

	return (go);
}

/*
 * Give up on the current record: report `why` for the line it started on
 * and skip the rest of the physical line.
 */
static int
fail(struct crm_csv_reader *r, const char *why, crm_csv_cb cb, void *arg)
{
	struct crm_csv_record rec;
	int go;

	memset(&rec, 0, sizeof(rec));
	rec.line = r->record_line;
	rec.error = why;
	go = cb(&rec, arg);
	record_reset(r);
	r->state = ST_SKIP;

	return (go);
}

/*
 * What put() or field_end() returned: 1 goes on, 0 (out of memory) stops,
 * a limit reached fails the record.
 */
static int
limit(struct crm_csv_reader *r, int rc, crm_csv_cb cb, void *arg)
{
	if (rc == -1)
		return (fail(r,
		    "the record is longer than the limit (a quoted field left "
		    "open?)",
		    cb, arg));
	if (rc == -2)
		return (fail(r, "the record has too many fields", cb, arg));

	return (rc);
}

static void
record_reset(struct crm_csv_reader *r)
{
	r->len = 0;
	r->nfields = 0;
	r->field_start = 0;
	r->raw = 0;
}

/*
 * Whether `len` bytes at `s` are well-formed UTF-8: no overlong forms,
 * no surrogates, nothing beyond U+10FFFF.
 */
int
crm_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p, *end;
	unsigned int c;
	size_t n, i;

	p = (const unsigned char *)s;
	end = p + len;
	while (p < end) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf) {
			n = 1;
			c = *p & 0x1f;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			n = 2;
			c = *p & 0x0f;
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			n = 3;
			c = *p & 0x07;
		} else {
			return (0);
		}
		if ((size_t)(end - p) <= n)
			return (0);
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return (0);
			c = (c << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
		    (n == 3 && (c < 0x10000 || c > 0x10ffff)))
			return (0);
		p += n + 1;
	}

	return (1);
}
