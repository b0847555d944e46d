/*
 * CSV renderings of the API's JSON answers (R53): a report or a list asked
 * for with Accept: text/csv. RFC 4180 quoting with CRLF line ends, a UTF-8
 * byte order mark so that spreadsheet programs read Chinese text right,
 * nested objects flattened into dotted columns (by_category.commit),
 * arrays kept as JSON text, and cells a spreadsheet would run as a formula
 * (leading =, +, -, @, tab or CR) defused with a leading apostrophe,
 * unless they are plain numbers ("-5.00").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crm/csv.h"

struct buf {
	char *data;
	size_t len;
	size_t size;
	int failed;
};

static double media_q(const char *, size_t, const char *);
static void flatten(json_t *, const char *, json_t *, json_t *);
static void buf_add(struct buf *, const char *, size_t);
static void cell_add(struct buf *, json_t *);
static int plain_number(const char *);

/*
 * Whether an Accept header (NULL: none) asks for CSV rather than JSON:
 * text/csv listed with a q above application/json's (0 when JSON is not
 * named). Wildcards alone keep JSON, the API's default.
 */
int
crm_csv_accepted(const char *accept)
{
	double csv, json;

	if (accept == NULL)
		return (0);
	csv = media_q(accept, strlen(accept), "text/csv");
	json = media_q(accept, strlen(accept), "application/json");

	return (csv > 0 && csv > json);
}

/*
 * The q value (0..1) the header `h` gives the media type `type` when it
 * names it exactly; 0 when it does not.
 */
static double
media_q(const char *h, size_t len, const char *type)
{
	const char *p, *end, *semi, *q;
	size_t n, tlen;
	double v;

	tlen = strlen(type);
	for (p = h; p < h + len; p = end + 1) {
		end = memchr(p, ',', (size_t)(h + len - p));
		if (end == NULL)
			end = h + len;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		semi = memchr(p, ';', (size_t)(end - p));
		n = (size_t)((semi != NULL ? semi : end) - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n != tlen || strncasecmp(p, type, n) != 0)
			continue;
		v = 1.0;
		for (q = semi; q != NULL && q < end;
		     q = memchr(q + 1, ';', (size_t)(end - q - 1))) {
			while (q + 1 < end && (q[1] == ' ' || q[1] == '\t'))
				q++;
			if (q + 3 <= end && (q[1] == 'q' || q[1] == 'Q') &&
			    q[2] == '=')
				v = strtod(q + 3, NULL);
		}
		return (v < 0 ? 0 : (v > 1 ? 1 : v));
	}

	return (0);
}

/*
 * The rows of an answer as a new reference to a JSON array: the answer
 * itself when it is an array, else its first member that is an array (the
 * groups of a report, the data of a list), followed by its `total` object
 * when it has one. NULL when the answer holds no rows.
 */
json_t *
crm_csv_rows(json_t *doc)
{
	const char *key;
	json_t *rows, *list, *total;

	if (json_is_array(doc))
		return (json_incref(doc));
	if (!json_is_object(doc))
		return (NULL);

	json_object_foreach(doc, key, list)
	{
		if (!json_is_array(list))
			continue;
		if ((rows = json_copy(list)) == NULL)
			return (NULL);
		total = json_object_get(doc, "total");
		if (json_is_object(total))
			json_array_append(rows, total);
		return (rows);
	}

	return (NULL);
}

/*
 * Render `rows` (an array of objects) as CSV into a new malloc'd buffer of
 * *len bytes: a header of every column met, in the order first met, then
 * one line per row. Returns NULL when memory runs out.
 */
char *
crm_csv_render(json_t *rows, size_t *len)
{
	struct buf b;
	json_t *columns, *flat, *row, *col;
	size_t i, j;

	memset(&b, 0, sizeof(b));
	columns = json_array();
	flat = json_array();
	if (columns == NULL || flat == NULL)
		b.failed = 1;

	json_array_foreach(rows, i, row)
	{
		json_t *cells;

		if (b.failed || (cells = json_object()) == NULL) {
			b.failed = 1;
			break;
		}
		flatten(row, "", cells, columns);
		json_array_append_new(flat, cells);
	}
	buf_add(&b, "\xef\xbb\xbf", 3);
	json_array_foreach(columns, j, col)
	{
		if (j > 0)
			buf_add(&b, ",", 1);
		cell_add(&b, col);
	}
	buf_add(&b, "\r\n", 2);
	json_array_foreach(flat, i, row)
	{
		json_array_foreach(columns, j, col)
		{
			if (j > 0)
				buf_add(&b, ",", 1);
			cell_add(&b,
			    json_object_get(row, json_string_value(col)));
		}
		buf_add(&b, "\r\n", 2);
	}

	json_decref(columns);
	json_decref(flat);
	if (b.failed) {
		free(b.data);
		return (NULL);
	}
	*len = b.len;

	return (b.data);
}

/*
 * One CSV line (CRLF-terminated) of the values of the array `cells`, each
 * a cell as crm_csv_render() writes it (quoted when it must be, formulas
 * defused, arrays and objects as JSON): the rows of a streamed export.
 * Returns a new malloc'd buffer of *len bytes, or NULL when memory runs
 * out.
 */
char *
crm_csv_line(json_t *cells, size_t *len)
{
	struct buf b;
	json_t *v;
	size_t i;

	memset(&b, 0, sizeof(b));
	json_array_foreach(cells, i, v)
	{
		if (i > 0)
			buf_add(&b, ",", 1);
		cell_add(&b, v);
	}
	buf_add(&b, "\r\n", 2);
	if (b.failed) {
		free(b.data);
		return (NULL);
	}
	*len = b.len;

	return (b.data);
}

/*
 * Put the scalar cells of `v` into `cells` under dotted names below
 * `prefix`, and append each name not yet in `columns` to it.
 */
static void
flatten(json_t *v, const char *prefix, json_t *cells, json_t *columns)
{
	const char *key;
	json_t *child, *c;
	char name[256];
	size_t i;
	int known;

	if (json_is_object(v)) {
		json_object_foreach(v, key, child)
		{
			(void)snprintf(name, sizeof(name), "%s%s%s", prefix,
			    prefix[0] != '\0' ? "." : "", key);
			flatten(child, name, cells, columns);
		}
		return;
	}
	if (prefix[0] == '\0')
		prefix = "value";

	known = 0;
	json_array_foreach(columns, i, c)
	{
		if (!strcmp(json_string_value(c), prefix)) {
			known = 1;
			break;
		}
	}
	if (!known)
		json_array_append_new(columns, json_string(prefix));
	(void)json_object_set(cells, prefix, v);
}

/* Append `n` bytes to the buffer, growing it; remember a failure. */
static void
buf_add(struct buf *b, const char *s, size_t n)
{
	size_t size;
	char *p;

	if (b->failed)
		return;
	if (n > (size_t)-1 / 2 - b->len) {
		b->failed = 1;
		return;
	}
	if (b->len + n + 1 > b->size) {
		size = b->size == 0 ? 4096 : b->size;
		while (size < b->len + n + 1)
			size *= 2;
		if ((p = realloc(b->data, size)) == NULL) {
			b->failed = 1;
			return;
		}
		b->data = p;
		b->size = size;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* One cell: empty for null or absent, quoted when it must be. */
static void
cell_add(struct buf *b, json_t *v)
{
	const char *s, *p;
	char *text;
	char num[64];
	int formula;

	text = NULL;
	if (v == NULL || json_is_null(v))
		return;
	if (json_is_string(v)) {
		s = json_string_value(v);
	} else if (json_is_integer(v)) {
		(void)snprintf(num, sizeof(num), "%lld",
		    (long long)json_integer_value(v));
		s = num;
	} else if (json_is_true(v) || json_is_false(v)) {
		s = json_is_true(v) ? "true" : "false";
	} else {
		text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		s = text != NULL ? text : "";
	}

	formula = s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL &&
	    !plain_number(s);
	if (!formula && strpbrk(s, ",\"\r\n") == NULL) {
		buf_add(b, s, strlen(s));
	} else {
		buf_add(b, "\"", 1);
		if (formula)
			buf_add(b, "'", 1);
		for (p = s; *p != '\0'; p++) {
			if (*p == '"')
				buf_add(b, "\"", 1);
			buf_add(b, p, 1);
		}
		buf_add(b, "\"", 1);
	}
	free(text);
}

/* Whether `s` is a plain decimal number such as -5 or -1234.56. */
static int
plain_number(const char *s)
{
	size_t n;

	if (*s == '-' || *s == '+')
		s++;
	n = strspn(s, "0123456789");
	if (n == 0)
		return (0);
	if (s[n] == '.' && strspn(s + n + 1, "0123456789") > 0)
		n += 1 + strspn(s + n + 1, "0123456789");

	return (s[n] == '\0');
}
