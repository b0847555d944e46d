/*
 * Validation of JSON bodies and query strings against field lists. Both
 * produce the same field errors ({field, code, message}) so clients handle
 * one format; both refuse names they do not know.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/validate.h"

static int check_value(const struct crm_field *, json_t *, struct crm_error *);
static const struct crm_field *
field_find(const struct crm_field *, const char *);
static size_t utf8_chars(const char *);
static int email_valid(const char *);
static int phone_valid(const char *);
static int date_valid(const char *);
static int time_valid(const char *);
static const char *
decimal_check(const struct crm_field *, const char *, char *, size_t);
static const char *
object_array_check(const struct crm_field *, json_t *, char *, size_t);
static int enum_has(const char *const *, const char *);
static json_t *
qs_value(const struct crm_field *, const char *, struct crm_error *);
static char *url_decode(const char *, size_t);

/*
 * Check `obj` against `spec` (terminated by a NULL name). With `patch`,
 * required fields may be absent (a merge patch names what changes).
 * Returns CRM_OK, or CRM_ERROR with one field error per problem in `err`.
 */
int
crm_validate_object(json_t *obj, const struct crm_field *spec, int patch,
    struct crm_error *err)
{
	const struct crm_field *f;
	const char *key;
	json_t *value;
	char msg[160];
	int ok;

	ok = 1;
	json_object_foreach(obj, key, value)
	{
		if (field_find(spec, key) == NULL) {
			(void)snprintf(msg, sizeof(msg),
			    "'%s' is not a field of this resource.", key);
			crm_error_field(err, key, "unknown_field", msg);
			ok = 0;
		}
	}

	for (f = spec; f->name != NULL; f++) {
		value = json_object_get(obj, f->name);
		if (value == NULL) {
			if ((f->flags & CRM_F_REQUIRED) && !patch) {
				(void)snprintf(msg, sizeof(msg),
				    "'%s' is required.", f->name);
				crm_error_field(err, f->name, "required", msg);
				ok = 0;
			}
			continue;
		}
		if (json_is_null(value)) {
			if (!(f->flags & CRM_F_NULLABLE)) {
				(void)snprintf(msg, sizeof(msg),
				    "'%s' cannot be null.", f->name);
				crm_error_field(err, f->name, "not_nullable",
				    msg);
				ok = 0;
			}
			continue;
		}
		if (!check_value(f, value, err))
			ok = 0;
	}

	if (!ok)
		crm_error_set(err, CRM_ERR_VALIDATION,
		    "The request has invalid fields; see errors.");
	return (ok ? CRM_OK : CRM_ERROR);
}

/*
 * Parse a raw query string (`qs`, may be NULL) against `spec` into a new
 * JSON object of typed values (*out, owned by the caller). Unknown,
 * repeated, badly encoded or invalid parameters are errors: 400 for the
 * syntax, 422 for values, every one listed.
 */
int
crm_qs_parse(const char *qs, const struct crm_field *spec, json_t **out,
    struct crm_error *err)
{
	const struct crm_field *f;
	const char *p, *amp, *eq;
	char *name, *raw, msg[160];
	json_t *obj, *v;
	int ok;

	*out = NULL;
	if ((obj = json_object()) == NULL)
		return (crm_error_set(err, CRM_ERR_INTERNAL, NULL));
	ok = 1;

	for (p = qs; p != NULL && *p != '\0';
	     p = amp != NULL ? amp + 1 : NULL) {
		amp = strchr(p, '&');
		eq =
		    memchr(p, '=', amp != NULL ? (size_t)(amp - p) : strlen(p));
		if (amp == p)
			continue;
		name = url_decode(p,
		    eq != NULL ? (size_t)(eq - p)
			       : (amp != NULL ? (size_t)(amp - p) : strlen(p)));
		raw = eq == NULL ? strdup("")
				 : url_decode(eq + 1,
				       amp != NULL ? (size_t)(amp - eq - 1)
						   : strlen(eq + 1));
		if (name == NULL || raw == NULL) {
			crm_error_field(err, "query", "bad_encoding",
			    "The query string is not valid UTF-8 "
			    "percent-encoding.");
			ok = 0;
		} else if ((f = field_find(spec, name)) == NULL) {
			(void)snprintf(msg, sizeof(msg),
			    "'%.60s' is not a parameter of this operation.",
			    name);
			crm_error_field(err, name, "unknown_parameter", msg);
			ok = 0;
		} else if (json_object_get(obj, f->name) != NULL) {
			(void)snprintf(msg, sizeof(msg),
			    "'%s' is given more than once.", f->name);
			crm_error_field(err, f->name, "repeated", msg);
			ok = 0;
		} else if ((v = qs_value(f, raw, err)) == NULL) {
			ok = 0;
		} else {
			json_object_set_new(obj, f->name, v);
		}
		free(name);
		free(raw);
	}

	if (!ok) {
		json_decref(obj);
		return (crm_error_set(err, CRM_ERR_VALIDATION,
		    "The query has invalid parameters; see errors."));
	}
	*out = obj;

	return (CRM_OK);
}

/* Return 1 when `s` is a canonical (lowercase or uppercase) UUID. */
int
crm_uuid_valid(const char *s)
{
	int i;

	if (s == NULL || strlen(s) != 36)
		return (0);
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return (0);
		} else if (!isxdigit((unsigned char)s[i])) {
			return (0);
		}
	}

	return (1);
}

/* Element checks of array fields: NULL when fine, else the error code. */
static const char *
enum_element(const struct crm_field *f, const char *s)
{
	return (enum_has(f->values, s) ? NULL : "enum");
}

static const char *
text_element(const struct crm_field *f, const char *s)
{
	return ((long long)utf8_chars(s) >= f->min &&
		    (long long)utf8_chars(s) <= f->max
		? NULL
		: "length");
}

static const char *
phone_element(const struct crm_field *f, const char *s)
{
	(void)f;
	return (phone_valid(s) ? NULL : "format");
}

static const char *
uuid_element(const struct crm_field *f, const char *s)
{
	(void)f;
	return (crm_uuid_valid(s) ? NULL : "format");
}

/*
 * Check an array field: `min` to `max` strings, each accepted by
 * `element`, no two equal. Returns NULL, or the error code with `msg`
 * saying what is wrong.
 */
static const char *
check_array(const struct crm_field *f, json_t *v, size_t min, size_t max,
    const char *(*element)(const struct crm_field *, const char *), char *msg,
    size_t size)
{
	const char *s, *code;
	size_t i, j, n;

	if (!json_is_array(v) || json_array_size(v) < min ||
	    json_array_size(v) > max) {
		(void)snprintf(msg, size,
		    "'%s' must be an array of %zu to %zu values.", f->name, min,
		    max);
		return ("type");
	}

	n = json_array_size(v);
	for (i = 0; i < n; i++) {
		s = json_string_value(json_array_get(v, i));
		code = s == NULL ? "type" : element(f, s);
		if (code != NULL) {
			(void)snprintf(msg, size,
			    "'%s' has an invalid value '%.60s'.", f->name,
			    s != NULL ? s : "?");
			return (code);
		}
		for (j = 0; j < i; j++) {
			if (json_equal(json_array_get(v, j),
				json_array_get(v, i))) {
				(void)snprintf(msg, size,
				    "'%s' lists a value twice.", f->name);
				return ("duplicate");
			}
		}
	}

	return (NULL);
}

/* Check one present, non-null value; adds a field error and returns 0. */
static int
check_value(const struct crm_field *f, json_t *v, struct crm_error *err)
{
	const char *s, *code;
	char msg[200];
	size_t n;
	long long x;

	code = NULL;
	msg[0] = '\0';

	switch (f->type) {
	case CRM_T_BOOL:
		if (!json_is_boolean(v))
			code = "type";
		break;
	case CRM_T_INT:
		if (!json_is_integer(v)) {
			code = "type";
			break;
		}
		x = json_integer_value(v);
		if (x < f->min || x > f->max) {
			code = "range";
			(void)snprintf(msg, sizeof(msg),
			    "'%s' must be from %lld to %lld.", f->name, f->min,
			    f->max);
		}
		break;
	case CRM_T_ENUM_ARRAY:
		code =
		    check_array(f, v, 1, 100, enum_element, msg, sizeof(msg));
		break;
	case CRM_T_OBJECT:
		if (!json_is_object(v))
			code = "type";
		break;
	case CRM_T_OBJECT_ARRAY:
		code = object_array_check(f, v, msg, sizeof(msg));
		break;
	case CRM_T_UUID_ARRAY:
		code = check_array(f, v, 1, (size_t)f->max, uuid_element, msg,
		    sizeof(msg));
		break;
	case CRM_T_PHONE_ARRAY:
		code =
		    check_array(f, v, 0, 10, phone_element, msg, sizeof(msg));
		break;
	case CRM_T_TEXT_ARRAY:
		code = check_array(f, v, 0, 50, text_element, msg, sizeof(msg));
		break;
	case CRM_T_DECIMAL:
		if (!json_is_string(v)) {
			code = "type";
			(void)snprintf(msg, sizeof(msg),
			    "'%s' must be a decimal string such as \"1234.56\" "
			    "(never a JSON number, which loses cents).",
			    f->name);
			break;
		}
		code = decimal_check(f, json_string_value(v), msg, sizeof(msg));
		break;
	default:
		if (!json_is_string(v)) {
			code = "type";
			break;
		}
		s = json_string_value(v);
		n = utf8_chars(s);
		if (f->type == CRM_T_TEXT || f->type == CRM_T_PASSWORD) {
			if ((long long)n < f->min || (long long)n > f->max) {
				code = "length";
				(void)snprintf(msg, sizeof(msg),
				    "'%s' must be %lld to %lld characters.",
				    f->name, f->min, f->max);
			}
		} else if (f->type == CRM_T_DATE && !date_valid(s)) {
			code = "format";
		} else if (f->type == CRM_T_PHONE && !phone_valid(s)) {
			code = "format";
		} else if (f->type == CRM_T_URL &&
		    ((long long)n > f->max ||
			(strncmp(s, "http://", 7) != 0 &&
			    strncmp(s, "https://", 8) != 0) ||
			strpbrk(s, " \t\r\n") != NULL)) {
			code = "format";
		} else if (f->type == CRM_T_EMAIL && !email_valid(s)) {
			code = "format";
		} else if (f->type == CRM_T_UUID && !crm_uuid_valid(s)) {
			code = "format";
		} else if (f->type == CRM_T_TIME && !time_valid(s)) {
			code = "format";
		} else if (f->type == CRM_T_ENUM && !enum_has(f->values, s)) {
			code = "enum";
		} else if (f->type == CRM_T_CURSOR &&
		    (n == 0 || n > 512 ||
			strspn(s,
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
			    "tuvwxyz0123456789-_") != strlen(s))) {
			code = "format";
		}
		break;
	}

	if (code == NULL)
		return (1);

	if (msg[0] == '\0') {
		if (!strcmp(code, "type"))
			(void)snprintf(msg, sizeof(msg),
			    "'%s' has the wrong type.", f->name);
		else if (!strcmp(code, "enum"))
			(void)snprintf(msg, sizeof(msg),
			    "'%s' must be one of the allowed values.", f->name);
		else if (!strcmp(code, "duplicate"))
			(void)snprintf(msg, sizeof(msg),
			    "'%s' lists a value twice.", f->name);
		else
			(void)snprintf(msg, sizeof(msg),
			    "'%s' is not well formed.", f->name);
	}
	crm_error_field(err, f->name, code, msg);

	return (0);
}

static const struct crm_field *
field_find(const struct crm_field *spec, const char *name)
{
	for (; spec->name != NULL; spec++) {
		if (!strcmp(spec->name, name))
			return (spec);
	}

	return (NULL);
}

/* Characters (code points) of valid UTF-8 `s`, as jansson guarantees. */
static size_t
utf8_chars(const char *s)
{
	size_t n;

	for (n = 0; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}

	return (n);
}

/* local@domain.tld, no spaces or controls, at most 254 bytes. */
static int
email_valid(const char *s)
{
	const char *at, *dot;
	size_t i, len;

	len = strlen(s);
	if (len < 3 || len > 254)
		return (0);
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '<' ||
		    s[i] == '>' || s[i] == ',' || s[i] == ';')
			return (0);
	}
	at = strchr(s, '@');
	if (at == NULL || at == s || strchr(at + 1, '@') != NULL)
		return (0);
	dot = strrchr(at, '.');
	return (dot != NULL && dot > at + 1 && dot[1] != '\0');
}

/* A phone number as people write it: 028-86001234, +86 138 0013 8000. */
static int
phone_valid(const char *s)
{
	size_t len, digits;

	len = strlen(s);
	if (len < 3 || len > 40 || strspn(s, "0123456789+-(). ") != len)
		return (0);
	for (digits = 0; *s != '\0'; s++) {
		if (isdigit((unsigned char)*s))
			digits++;
	}

	return (digits >= 3);
}

/* YYYY-MM-DD naming a day that exists (1900-01-01 .. 2999-12-31). */
static int
date_valid(const char *s)
{
	static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30,
	    31};
	int y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    strspn(s, "0123456789-") != 10 ||
	    sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3)
		return (0);
	if (y < 1900 || y > 2999 || m < 1 || m > 12 || d < 1 || d > days[m - 1])
		return (0);
	if (m == 2 && d == 29 &&
	    !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return (0);

	return (1);
}

/* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
static int
time_valid(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd";
	size_t i;

	for (i = 0; pat[i] != '\0'; i++) {
		if (pat[i] == 'd'
			? !isdigit((unsigned char)s[i])
			: (s[i] != pat[i] && !(pat[i] == 'T' && s[i] == 't')))
			return (0);
	}
	s += i;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return (0);
		while (isdigit((unsigned char)*s))
			s++;
	}
	if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
		return (1);
	return ((*s == '+' || *s == '-') && isdigit((unsigned char)s[1]) &&
	    isdigit((unsigned char)s[2]) && s[3] == ':' &&
	    isdigit((unsigned char)s[4]) && isdigit((unsigned char)s[5]) &&
	    s[6] == '\0');
}

/*
 * An exact decimal as money and quantities are written: digits, then
 * optionally a point and 1 to `min` decimals; at most `max` digits before
 * the point; never negative, no exponent, no sign. Returns NULL when `s`
 * is one, else the error code with `msg` saying what is wrong.
 */
static const char *
decimal_check(const struct crm_field *f, const char *s, char *msg, size_t size)
{
	size_t whole, frac;

	if (*s == '-' && strspn(s + 1, "0123456789.") == strlen(s + 1) &&
	    s[1] != '\0') {
		(void)snprintf(msg, size, "'%s' cannot be negative.", f->name);
		return ("range");
	}
	whole = strspn(s, "0123456789");
	frac = s[whole] == '.' ? strspn(s + whole + 1, "0123456789") : 0;
	if (whole == 0 || (s[whole] == '.' && frac == 0) ||
	    s[whole + (s[whole] == '.' ? 1 + frac : 0)] != '\0') {
		(void)snprintf(msg, size,
		    "'%s' must be a decimal such as \"1234.56\".", f->name);
		return ("format");
	}
	if ((long long)frac > f->min) {
		(void)snprintf(msg, size,
		    "'%s' has at most %lld decimal places.", f->name, f->min);
		return ("scale");
	}
	while (whole > 1 && *s == '0') {
		s++;
		whole--;
	}
	if ((long long)whole > f->max) {
		(void)snprintf(msg, size,
		    "'%s' has at most %lld digits before the point.", f->name,
		    f->max);
		return ("range");
	}

	return (NULL);
}

/*
 * An array of `min` to `max` JSON objects, such as the lines of a quote.
 * Only the shape is checked here: the objects' fields are the database's
 * to check, which names each one by its index (`lines[2].quantity`).
 * Returns NULL when `v` is one, else the error code with `msg` set.
 */
static const char *
object_array_check(const struct crm_field *f, json_t *v, char *msg, size_t size)
{
	json_t *item;
	size_t i;

	if (!json_is_array(v) || (long long)json_array_size(v) < f->min ||
	    (long long)json_array_size(v) > f->max) {
		(void)snprintf(msg, size,
		    "'%s' must be an array of %lld to %lld objects.", f->name,
		    f->min, f->max);
		return ("type");
	}
	json_array_foreach(v, i, item)
	{
		if (!json_is_object(item)) {
			(void)snprintf(msg, size,
			    "'%s[%zu]' must be an object.", f->name, i);
			return ("type");
		}
	}

	return (NULL);
}

static int
enum_has(const char *const *values, const char *s)
{
	for (; values != NULL && *values != NULL; values++) {
		if (!strcmp(*values, s))
			return (1);
	}

	return (0);
}

/* A typed JSON value for query parameter `raw`, or NULL (error added). */
static json_t *
qs_value(const struct crm_field *f, const char *raw, struct crm_error *err)
{
	json_t *s;
	char *end, msg[160];
	long long x;

	switch (f->type) {
	case CRM_T_INT:
		x = strtoll(raw, &end, 10);
		if (*raw == '\0' || *end != '\0' || x < f->min || x > f->max) {
			(void)snprintf(msg, sizeof(msg),
			    "'%s' must be an integer from %lld to %lld.",
			    f->name, f->min, f->max);
			crm_error_field(err, f->name, "range", msg);
			return (NULL);
		}
		return (json_integer(x));
	case CRM_T_BOOL:
		if (strcmp(raw, "true") && strcmp(raw, "false")) {
			(void)snprintf(msg, sizeof(msg),
			    "'%s' must be true or false.", f->name);
			crm_error_field(err, f->name, "type", msg);
			return (NULL);
		}
		return (json_boolean(!strcmp(raw, "true")));
	default:
		if ((s = json_string(raw)) == NULL)
			return (NULL);
		if (!check_value(f, s, err)) {
			json_decref(s);
			return (NULL);
		}
		return (s);
	}
}

/*
 * Percent-decode `len` bytes of `s` ('+' is a space) into a new string;
 * NULL when an escape is malformed or the result is not valid UTF-8 or
 * contains NUL.
 */
static char *
url_decode(const char *s, size_t len)
{
	json_t *check;
	char *out, hex[3];
	size_t i, n;

	if ((out = malloc(len + 1)) == NULL)
		return (NULL);

	for (i = 0, n = 0; i < len; i++) {
		if (s[i] == '+') {
			out[n++] = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= len)
				goto fail;
			if (!isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]))
				goto fail;
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			hex[2] = '\0';
			out[n] = (char)strtol(hex, NULL, 16);
			if (out[n] == '\0')
				goto fail;
			n++;
			i += 2;
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';

	/* jansson refuses invalid UTF-8: reuse it as the validator. */
	if ((check = json_stringn(out, n)) == NULL)
		goto fail;
	json_decref(check);

	return (out);

fail:
	free(out);
	return (NULL);
}
