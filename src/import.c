/*
 * Bulk imports without the database (see include/crm/import.h). A CSV
 * file's header names the columns: the fields of the single-record route
 * (its crm_field list), the import's extra columns, and custom.<key> for
 * custom fields. Each later record becomes one JSON object: an empty cell
 * is a field not given (so an upsert never blanks a value by accident),
 * booleans are true/false (or 1/0), integers are digits, arrays are JSON
 * arrays or values separated by ';', objects are JSON text, everything
 * else is the cell's text. An NDJSON file has one such object per line,
 * as the route's body would be (null clears a value). The object is then
 * checked by crm_validate_object() with the route's own list, exactly as
 * the route checks a body; what passes is written out as a line of COPY
 * text, "<line>\t<ok>\t<json>\n", for the database's checks and writes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crm/csv_read.h"
#include "crm/import.h"
#include "crm/json.h"

struct crm_import_column {
	char *name; /* as the header names it */
	const struct crm_field *field; /* NULL for a custom field */
	const struct crm_field *extra; /* an import-only column */
	char *key; /* the custom field's key */
	int number; /* the custom field is a number */
	int boolean; /* the custom field is a bool */
	const struct crm_field *parent; /* a nested column: its object field */
	const struct crm_field *sub; /* and the key it fills */
};

static int on_record(const struct crm_csv_record *, void *);
static int nested_find(const struct crm_import_spec *, const char *,
    struct crm_import_column *);
static int nested_set(json_t *, const struct crm_import_column *, json_t *);
static int header_read(struct crm_import *, const struct crm_csv_record *);
static const struct crm_field *
field_find(const struct crm_field *, const char *);
static void record_read(struct crm_import *, const struct crm_csv_record *);
static json_t *
cell_value(const struct crm_field *, const char *, size_t, char *, size_t);
static json_t *
custom_value(const struct crm_import_column *, const char *, size_t);
static void ndjson_line(struct crm_import *, const char *, size_t);
static void line_check(struct crm_import *, long, json_t *, json_t *);
static int missing_add(struct crm_import *, json_t *);
static void
line_error(struct crm_import *, long, const char *, const char *, const char *);
static void stage(struct crm_import *, long, int, json_t *);
static void out_add(struct crm_import *, const char *, size_t);
static void pending_add(struct crm_import *, const char *, size_t);

/*
 * Start reading a file of `format` (CRM_IMPORT_CSV or _NDJSON) for
 * `spec`; `custom` ({key: type} of the organisation's custom fields, or
 * NULL) is copied. Release with crm_import_cleanup() in every case.
 */
int
crm_import_init(struct crm_import *imp, const struct crm_import_spec *spec,
    int format, json_t *custom)
{
	memset(imp, 0, sizeof(*imp));
	crm_error_init(&imp->fatal);
	imp->spec = spec;
	imp->format = format;
	imp->line = 1;
	imp->custom = custom != NULL ? json_deep_copy(custom) : json_object();
	imp->errors = json_array();
	if (format == CRM_IMPORT_CSV)
		imp->csv = crm_csv_reader_new(0);
	if (imp->custom == NULL || imp->errors == NULL ||
	    (format == CRM_IMPORT_CSV && imp->csv == NULL))
		return (crm_error_set(&imp->fatal, CRM_ERR_INTERNAL, NULL));

	return (CRM_OK);
}

void
crm_import_cleanup(struct crm_import *imp)
{
	size_t i;

	for (i = 0; i < imp->ncolumns; i++) {
		free(imp->columns[i].name);
		free(imp->columns[i].key);
	}
	free(imp->columns);
	crm_csv_reader_free(imp->csv);
	json_decref(imp->custom);
	json_decref(imp->errors);
	free(imp->pending);
	free(imp->out);
	crm_error_cleanup(&imp->fatal);
	memset(imp, 0, sizeof(*imp));
}

/*
 * Read `len` more bytes of the file. The lines they complete are added
 * to imp->out (COPY text) and imp->errors. Returns CRM_ERROR when the file
 * as a whole is refused (imp->fatal says why: a bad header, 400) or memory
 * ran out (500).
 */
int
crm_import_feed(struct crm_import *imp, const char *data, size_t len)
{
	const char *nl;
	size_t n;

	if (imp->fatal.kind != CRM_ERR_NONE)
		return (CRM_ERROR);

	if (imp->format == CRM_IMPORT_CSV) {
		if (!crm_csv_reader_feed(imp->csv, data, len, on_record, imp) &&
		    imp->fatal.kind == CRM_ERR_NONE)
			imp->oom = 1;
	} else {
		while (len > 0 && !imp->oom) {
			nl = memchr(data, '\n', len);
			n = nl != NULL ? (size_t)(nl - data) : len;
			if (imp->skipping) {
				/* the rest of a line already refused */
			} else if (imp->pending_len + n > CRM_CSV_RECORD_MAX) {
				imp->read++;
				imp->failed++;
				line_error(imp, imp->line, "", "format",
				    "The line is longer than the limit.");
				imp->skipping = 1;
				imp->pending_len = 0;
			} else {
				pending_add(imp, data, n);
			}
			if (nl == NULL)
				break;
			if (!imp->skipping && !imp->oom)
				ndjson_line(imp, imp->pending,
				    imp->pending_len);
			imp->skipping = 0;
			imp->pending_len = 0;
			imp->line++;
			data = nl + 1;
			len -= n + 1;
		}
	}

	if (imp->oom && imp->fatal.kind == CRM_ERR_NONE)
		crm_error_set(&imp->fatal, CRM_ERR_INTERNAL, NULL);
	return (imp->fatal.kind == CRM_ERR_NONE ? CRM_OK : CRM_ERROR);
}

/* The end of the body: the last line, and a CSV file needs its header. */
int
crm_import_finish(struct crm_import *imp)
{
	if (imp->fatal.kind != CRM_ERR_NONE)
		return (CRM_ERROR);

	if (imp->format == CRM_IMPORT_CSV) {
		if (!crm_csv_reader_end(imp->csv, on_record, imp) &&
		    imp->fatal.kind == CRM_ERR_NONE)
			imp->oom = 1;
		if (!imp->header && imp->fatal.kind == CRM_ERR_NONE)
			crm_error_set(&imp->fatal, CRM_ERR_BAD_REQUEST,
			    "The file has no header row: its first line names "
			    "the columns.");
	} else if (!imp->skipping && imp->pending_len > 0) {
		ndjson_line(imp, imp->pending, imp->pending_len);
		imp->pending_len = 0;
	}

	if (imp->oom && imp->fatal.kind == CRM_ERR_NONE)
		crm_error_set(&imp->fatal, CRM_ERR_INTERNAL, NULL);
	return (imp->fatal.kind == CRM_ERR_NONE ? CRM_OK : CRM_ERROR);
}

/* Forget the COPY text the caller has sent. */
void
crm_import_drain(struct crm_import *imp)
{
	imp->out_len = 0;
}

/* --- CSV --------------------------------------------------------------------- */

/* The reader's callback: the header first, then the data records. */
static int
on_record(const struct crm_csv_record *rec, void *arg)
{
	struct crm_import *imp = arg;

	if (!imp->header)
		return (header_read(imp, rec));
	record_read(imp, rec);

	return (!imp->oom);
}

/*
 * Map the header's names to columns. Every unknown, repeated or empty
 * name is listed in imp->fatal (400): such a file is refused whole.
 */
static int
header_read(struct crm_import *imp, const struct crm_csv_record *rec)
{
	struct crm_import_column *col;
	const char *name, *type;
	char msg[200];
	size_t i, j, n;

	if (rec->error != NULL) {
		crm_error_set(&imp->fatal, CRM_ERR_BAD_REQUEST,
		    "The header row (line %ld) cannot be read: %s.", rec->line,
		    rec->error);
		return (0);
	}
	imp->columns = calloc(rec->nfields, sizeof(*imp->columns));
	if (imp->columns == NULL) {
		imp->oom = 1;
		return (0);
	}
	imp->ncolumns = rec->nfields;

	for (i = 0; i < rec->nfields; i++) {
		col = &imp->columns[i];
		name = rec->fields[i];
		n = rec->lens[i];
		while (n > 0 && *name == ' ') {
			name++;
			n--;
		}
		while (n > 0 && name[n - 1] == ' ')
			n--;
		if ((col->name = strndup(name, n)) == NULL) {
			imp->oom = 1;
			return (0);
		}
		name = col->name;
		if (n == 0) {
			(void)snprintf(msg, sizeof(msg),
			    "Column %zu of the header has no name.", i + 1);
			crm_error_field(&imp->fatal, "", "header", msg);
			continue;
		}
		for (j = 0; j < i; j++) {
			if (!strcmp(imp->columns[j].name, name))
				break;
		}
		if (j < i) {
			(void)snprintf(msg, sizeof(msg),
			    "'%.60s' is named twice in the header.", name);
			crm_error_field(&imp->fatal, name, "duplicate", msg);
		} else if (imp->spec->custom &&
		    strncmp(name, "custom.", 7) == 0) {
			type = json_string_value(
			    json_object_get(imp->custom, name + 7));
			if (type == NULL) {
				(void)snprintf(msg, sizeof(msg),
				    "'%.60s' names no custom field of this "
				    "organization.",
				    name);
				crm_error_field(&imp->fatal, name,
				    "unknown_field", msg);
			} else if ((col->key = strdup(name + 7)) == NULL) {
				imp->oom = 1;
			} else {
				col->number = !strcmp(type, "number");
				col->boolean = !strcmp(type, "bool");
			}
		} else if (nested_find(imp->spec, name, col)) {
			/* <object field>.<key> */
		} else if (imp->spec->custom && !strcmp(name, "custom")) {
			crm_error_field(&imp->fatal, name, "unknown_field",
			    "Give custom fields as custom.<key> columns.");
		} else if ((col->field = field_find(imp->spec->fields, name)) ==
			NULL &&
		    (col->extra = field_find(imp->spec->extra, name)) == NULL) {
			(void)snprintf(msg, sizeof(msg),
			    "'%.60s' is not a column of this import.", name);
			crm_error_field(&imp->fatal, name, "unknown_field",
			    msg);
		}
	}

	imp->header = 1;
	if (imp->fatal.errors != NULL &&
	    json_array_size(imp->fatal.errors) > 0) {
		crm_error_set(&imp->fatal, CRM_ERR_BAD_REQUEST,
		    "The header row names columns this import cannot take; "
		    "see errors.");
		return (0);
	}

	return (!imp->oom);
}

/*
 * Whether header `name` is <object field>.<key> of one of the spec's
 * nested fields; fills the column's parent and sub when it is.
 */
static int
nested_find(const struct crm_import_spec *spec, const char *name,
    struct crm_import_column *col)
{
	const struct crm_import_nested *n;
	const char *dot;
	size_t len;

	if (spec->nested == NULL || (dot = strchr(name, '.')) == NULL)
		return (0);
	len = (size_t)(dot - name);
	for (n = spec->nested; n->name != NULL; n++) {
		if (strlen(n->name) != len || strncmp(n->name, name, len) != 0)
			continue;
		col->parent = field_find(spec->fields, n->name);
		col->sub = field_find(n->fields, dot + 1);
		return (col->parent != NULL && col->sub != NULL);
	}

	return (0);
}

/*
 * Put `v` (stolen) at its nested place in `obj`: obj[parent][key], or
 * obj[parent][0][key] for an array of objects (one per CSV line).
 */
static int
nested_set(json_t *obj, const struct crm_import_column *col, json_t *v)
{
	json_t *holder, *item;

	holder = json_object_get(obj, col->parent->name);
	if (holder == NULL) {
		holder = col->parent->type == CRM_T_OBJECT_ARRAY
		    ? json_array()
		    : json_object();
		if (json_object_set_new(obj, col->parent->name, holder) != 0)
			holder = NULL;
	}
	item = holder;
	if (holder != NULL && json_is_array(holder)) {
		if ((item = json_array_get(holder, 0)) == NULL &&
		    json_array_append_new(holder, json_object()) == 0)
			item = json_array_get(holder, 0);
	}
	if (item == NULL) {
		json_decref(v);
		return (0);
	}

	return (json_object_set_new(item, col->sub->name, v) == 0);
}

static const struct crm_field *
field_find(const struct crm_field *spec, const char *name)
{
	for (; spec != NULL && spec->name != NULL; spec++) {
		if (!strcmp(spec->name, name))
			return (spec);
	}

	return (NULL);
}

/* One data record: its object, checked, staged. */
static void
record_read(struct crm_import *imp, const struct crm_csv_record *rec)
{
	struct crm_import_column *col;
	const struct crm_field *f;
	json_t *obj, *custom, *v, *refused;
	char msg[200];
	size_t i;

	imp->read++;
	if (rec->error != NULL) {
		(void)snprintf(msg, sizeof(msg), "The line cannot be read: %s.",
		    rec->error);
		line_error(imp, rec->line, "", "format", msg);
		imp->failed++;
		return;
	}
	if (rec->nfields != imp->ncolumns) {
		(void)snprintf(msg, sizeof(msg),
		    "The line has %zu fields; the header has %zu.",
		    rec->nfields, imp->ncolumns);
		line_error(imp, rec->line, "", "columns", msg);
		imp->failed++;
		return;
	}

	custom = NULL;
	obj = json_object();
	refused = json_object();
	if (obj == NULL || refused == NULL) {
		imp->oom = 1;
		goto cleanup;
	}
	for (i = 0; i < rec->nfields && !imp->oom; i++) {
		col = &imp->columns[i];
		if (rec->lens[i] == 0)
			continue;
		if (col->key != NULL) {
			if (custom == NULL) {
				custom = json_object();
				if (json_object_set_new(obj, "custom", custom))
					custom = NULL;
			}
			v = custom_value(col, rec->fields[i], rec->lens[i]);
			if (v == NULL || custom == NULL ||
			    json_object_set_new(custom, col->key, v) != 0)
				imp->oom = 1;
			continue;
		}
		f = col->sub != NULL
		    ? col->sub
		    : (col->field != NULL ? col->field : col->extra);
		msg[0] = '\0';
		v = cell_value(f, rec->fields[i], rec->lens[i], msg,
		    sizeof(msg));
		if (v == NULL && msg[0] != '\0') {
			line_error(imp, rec->line, col->name, "type", msg);
			if (json_object_set_new(refused, col->name,
				json_true()))
				imp->oom = 1;
		} else if (v == NULL) {
			imp->oom = 1;
		} else if (col->sub != NULL) {
			if (!nested_set(obj, col, v))
				imp->oom = 1;
		} else if (json_object_set_new(obj, f->name, v)) {
			imp->oom = 1;
		}
	}
	if (!imp->oom)
		line_check(imp, rec->line, obj, refused);

cleanup:
	json_decref(refused);
	json_decref(obj);
}

/* A boolean cell: true/false (any case) or 1/0; else NULL. */
static json_t *
bool_cell(const char *s)
{
	if (!strcasecmp(s, "true") || !strcmp(s, "1"))
		return (json_true());
	if (!strcasecmp(s, "false") || !strcmp(s, "0"))
		return (json_false());
	return (NULL);
}

/*
 * The JSON value of a non-empty cell for field `f`. NULL with `msg` set
 * when the cell cannot be one, NULL alone when memory ran out.
 */
static json_t *
cell_value(const struct crm_field *f, const char *s, size_t len, char *msg,
    size_t size)
{
	json_t *v, *item;
	const char *p, *end, *semi;
	char *stop;
	long long x;
	size_t n;

	switch (f->type) {
	case CRM_T_BOOL:
		if ((v = bool_cell(s)) != NULL)
			return (v);
		(void)snprintf(msg, size, "'%s' must be true or false.",
		    f->name);
		return (NULL);
	case CRM_T_INT:
		x = strtoll(s, &stop, 10);
		if (!isspace((unsigned char)*s) && *stop == '\0')
			return (json_integer(x));
		(void)snprintf(msg, size, "'%s' must be an integer.", f->name);
		return (NULL);
	case CRM_T_ENUM_ARRAY:
	case CRM_T_TEXT_ARRAY:
	case CRM_T_PHONE_ARRAY:
	case CRM_T_UUID_ARRAY:
		if (s[0] == '[')
			break;
		/* a;b;c, each trimmed, empty ones dropped */
		if ((v = json_array()) == NULL)
			return (NULL);
		for (p = s, end = s + len; p < end; p = semi + 1) {
			if ((semi = memchr(p, ';', (size_t)(end - p))) == NULL)
				semi = end;
			while (p < semi && *p == ' ')
				p++;
			n = (size_t)(semi - p);
			while (n > 0 && p[n - 1] == ' ')
				n--;
			if (n == 0)
				continue;
			if ((item = json_stringn(p, n)) == NULL ||
			    json_array_append_new(v, item) != 0) {
				json_decref(v);
				return (NULL);
			}
		}
		return (v);
	case CRM_T_OBJECT:
	case CRM_T_OBJECT_ARRAY:
		break;
	default:
		return (json_stringn(s, len));
	}

	/* JSON text: an array (or an object for CRM_T_OBJECT). */
	if (crm_json_depth_ok(s, len, CRM_JSON_MAX_DEPTH) &&
	    (v = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL)) != NULL) {
		if (json_is_object(v)
			? f->type == CRM_T_OBJECT
			: json_is_array(v) && f->type != CRM_T_OBJECT)
			return (v);
		json_decref(v);
	}
	(void)snprintf(msg, size, "'%s' must be %s.", f->name,
	    f->type == CRM_T_OBJECT ? "a JSON object" : "a JSON array");

	return (NULL);
}

/*
 * A custom field's value: numbers and booleans as such when the cell is
 * one, else the text (the database then names the type it wants).
 */
static json_t *
custom_value(const struct crm_import_column *col, const char *s, size_t len)
{
	json_t *v;

	if (col->boolean && (v = bool_cell(s)) != NULL)
		return (v);
	if (col->number &&
	    (v = json_loadb(s, len, JSON_DECODE_ANY, NULL)) != NULL) {
		if (json_is_number(v))
			return (v);
		json_decref(v);
	}

	return (json_stringn(s, len));
}

/* --- NDJSON ---------------------------------------------------------------- */

/* One line of an NDJSON file: an object as the route's body. */
static void
ndjson_line(struct crm_import *imp, const char *s, size_t len)
{
	json_error_t jerr;
	json_t *obj;
	size_t i;
	char msg[200];

	if (imp->line == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		len -= 3;
	}
	for (i = 0; i < len && isspace((unsigned char)s[i]); i++)
		;
	if (i == len)
		return; /* a blank line */
	imp->read++;

	obj = NULL;
	if (!crm_utf8_valid(s, len) || memchr(s, '\0', len) != NULL) {
		(void)snprintf(msg, sizeof(msg),
		    "The line is not valid UTF-8 text.");
	} else if (!crm_json_depth_ok(s, len, CRM_JSON_MAX_DEPTH)) {
		(void)snprintf(msg, sizeof(msg),
		    "The line nests deeper than %d levels.",
		    CRM_JSON_MAX_DEPTH);
	} else if ((obj = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		(void)snprintf(msg, sizeof(msg),
		    "The line is not valid JSON (column %d): %s.", jerr.column,
		    jerr.text);
	} else if (!json_is_object(obj)) {
		(void)snprintf(msg, sizeof(msg),
		    "The line must be a JSON object.");
		json_decref(obj);
		obj = NULL;
	}
	if (obj == NULL) {
		line_error(imp, imp->line, "", "format", msg);
		imp->failed++;
		return;
	}
	line_check(imp, imp->line, obj, NULL);
	json_decref(obj);
}

/* --- both -------------------------------------------------------------------- */

/*
 * Validate the object of line `line` with the route's field list (the
 * import's extra fields apart) and stage it. `refused` names fields whose
 * cells could not be converted (already reported: their checks are not
 * repeated).
 */
static void
line_check(struct crm_import *imp, long line, json_t *obj, json_t *refused)
{
	struct crm_error err;
	const struct crm_field *f;
	json_t *main, *extra, *e, *ext;
	const char *key, *field;
	json_t *v;
	size_t i;
	int ok;

	main = json_object();
	extra = json_object();
	if (main == NULL || extra == NULL) {
		imp->oom = 1;
		goto cleanup;
	}
	json_object_foreach(obj, key, v)
	{
		f = field_find(imp->spec->extra, key);
		(void)json_object_set(f != NULL ? extra : main, key, v);
	}

	/*
	 * An upsert's line may update a record (a merge patch, as PATCH):
	 * the required fields it lacks are named for the database, which
	 * refuses them only to lines that turn out to insert.
	 */
	crm_error_init(&err);
	ok = crm_validate_object(main, imp->spec->fields,
	    imp->upsert || imp->spec->partial, &err);
	if (imp->spec->extra != NULL &&
	    !crm_validate_object(extra, imp->spec->extra, 0, &err))
		ok = 0;
	json_array_foreach(err.errors, i, e)
	{
		field = json_string_value(json_object_get(e, "field"));
		if (refused != NULL && field != NULL &&
		    json_object_get(refused, field) != NULL)
			continue;
		line_error(imp, line, field,
		    json_string_value(json_object_get(e, "code")),
		    json_string_value(json_object_get(e, "message")));
	}
	crm_error_cleanup(&err);

	if (ok && (refused == NULL || json_object_size(refused) == 0)) {
		if (imp->upsert && !missing_add(imp, obj))
			goto cleanup;
		stage(imp, line, 1, obj);
	} else {
		imp->failed++;
		/* Still there for the check of repeated external ids. */
		ext = json_object_get(obj, "external_id");
		if (json_is_string(ext)) {
			json_t *only = json_pack("{s:O}", "external_id", ext);

			if (only == NULL)
				imp->oom = 1;
			else
				stage(imp, line, 0, only);
			json_decref(only);
		}
	}

cleanup:
	json_decref(main);
	json_decref(extra);
}

/*
 * Name the required fields `obj` lacks in its member "$missing" (no field
 * has that name). Returns 0 when memory ran out.
 */
static int
missing_add(struct crm_import *imp, json_t *obj)
{
	const struct crm_field *f;
	json_t *missing;

	missing = NULL;
	for (f = imp->spec->fields; f->name != NULL; f++) {
		if (!(f->flags & CRM_F_REQUIRED) ||
		    json_object_get(obj, f->name) != NULL)
			continue;
		if (missing == NULL &&
		    ((missing = json_array()) == NULL ||
			json_object_set_new(obj, "$missing", missing) != 0)) {
			imp->oom = 1;
			return (0);
		}
		if (json_array_append_new(missing, json_string(f->name)) != 0) {
			imp->oom = 1;
			return (0);
		}
	}

	return (1);
}

/* Record an error of `line` (counted always, kept within the cap). */
static void
line_error(struct crm_import *imp, long line, const char *field,
    const char *code, const char *message)
{
	json_t *e;

	imp->errors_total++;
	if (json_array_size(imp->errors) >= CRM_IMPORT_ERRORS_MAX)
		return;
	e = json_pack("{s:I, s:s, s:s, s:s}", "line", (json_int_t)line, "field",
	    field != NULL ? field : "", "code", code != NULL ? code : "invalid",
	    "message", message != NULL ? message : "");
	if (e == NULL || json_array_append_new(imp->errors, e) != 0)
		imp->oom = 1;
}

/* Write line `line` as COPY text: line, ok, the object's JSON. */
static void
stage(struct crm_import *imp, long line, int ok, json_t *obj)
{
	char head[32], *json, *p, *run;
	int n;

	if ((json = json_dumps(obj, JSON_COMPACT)) == NULL) {
		imp->oom = 1;
		return;
	}
	n = snprintf(head, sizeof(head), "%ld\t%s\t", line, ok ? "t" : "f");
	out_add(imp, head, (size_t)n);
	/* COPY's text format: backslashes doubled (JSON escapes the rest). */
	for (run = p = json; *p != '\0'; p++) {
		if (*p == '\\') {
			out_add(imp, run, (size_t)(p - run) + 1);
			run = p;
		}
	}
	out_add(imp, run, (size_t)(p - run));
	out_add(imp, "\n", 1);
	free(json);
}

/* Append `n` bytes to the NDJSON line being read. */
static void
pending_add(struct crm_import *imp, const char *s, size_t n)
{
	size_t size;
	char *p;

	if (imp->pending_len + n + 1 > imp->pending_size) {
		size = (imp->pending_len + n + 1) * 2;
		if ((p = realloc(imp->pending, size)) == NULL) {
			imp->oom = 1;
			return;
		}
		imp->pending = p;
		imp->pending_size = size;
	}
	memcpy(imp->pending + imp->pending_len, s, n);
	imp->pending_len += n;
}

static void
out_add(struct crm_import *imp, const char *s, size_t n)
{
	size_t size;
	char *p;

	if (imp->oom)
		return;
	if (imp->out_len + n + 1 > imp->out_size) {
		size = imp->out_size == 0 ? 65536 : imp->out_size;
		while (size < imp->out_len + n + 1)
			size *= 2;
		if ((p = realloc(imp->out, size)) == NULL) {
			imp->oom = 1;
			return;
		}
		imp->out = p;
		imp->out_size = size;
	}
	memcpy(imp->out + imp->out_len, s, n);
	imp->out_len += n;
}
