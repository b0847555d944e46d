/* Unit tests of src/csv_read.c: the streaming CSV reader. */
#include <stdlib.h>

#include "check.h"
#include "crm/csv_read.h"

/* Records as text: "line:field|field|..." or "line!error", one per line. */
struct out {
	char text[4096];
	int stop_after; /* stop after this many records (0: never) */
	int seen;
};

static int
collect(const struct crm_csv_record *rec, void *arg)
{
	struct out *o = arg;
	size_t i, n;

	n = strlen(o->text);
	if (rec->error != NULL) {
		(void)snprintf(o->text + n, sizeof(o->text) - n, "%ld!%s\n",
		    rec->line, rec->error);
	} else {
		(void)snprintf(o->text + n, sizeof(o->text) - n,
		    "%ld:", rec->line);
		for (i = 0; i < rec->nfields; i++) {
			n = strlen(o->text);
			(void)snprintf(o->text + n, sizeof(o->text) - n, "%s%s",
			    i > 0 ? "|" : "", rec->fields[i]);
			CHECK(strlen(rec->fields[i]) == rec->lens[i]);
		}
		n = strlen(o->text);
		(void)snprintf(o->text + n, sizeof(o->text) - n, "\n");
	}
	o->seen++;
	return (o->stop_after == 0 || o->seen < o->stop_after);
}

/* Read `s` fed in chunks of `chunk` bytes (0: all at once). */
static const char *
read_all(const char *s, size_t len, size_t chunk, size_t max)
{
	static struct out o;
	struct crm_csv_reader *r;
	size_t off, n;

	memset(&o, 0, sizeof(o));
	r = crm_csv_reader_new(max);
	for (off = 0; off < len; off += n) {
		n = chunk == 0 || len - off < chunk ? len - off : chunk;
		if (!crm_csv_reader_feed(r, s + off, n, collect, &o))
			break;
	}
	if (!crm_csv_reader_end(r, collect, &o))
		(void)snprintf(o.text + strlen(o.text),
		    sizeof(o.text) - strlen(o.text), "stopped\n");
	crm_csv_reader_free(r);

	return (o.text);
}

/* The same answer whatever the chunk size (one byte up to the whole). */
static void
check_read(const char *s, const char *want)
{
	size_t len, chunk;

	len = strlen(s);
	for (chunk = 0; chunk <= 7; chunk++)
		CHECK_STR(read_all(s, len, chunk, 0), want);
}

int
main(void)
{
	struct crm_csv_reader *r;
	struct out o;
	static char big[4096];

	/* Plain records, LF and CRLF, a last line without a break. */
	check_read("a,b,c\n1,2,3\r\n4,5,6", "1:a|b|c\n2:1|2|3\n3:4|5|6\n");
	/* Empty fields, a trailing comma, blank lines skipped. */
	check_read("a,,b,\n\n\r\n,\n", "1:a||b|\n4:|\n");
	/* A byte order mark is dropped; a partial one is data. */
	check_read("\xef\xbb\xbfname\n张三\n", "1:name\n2:张三\n");
	check_read("\xef\xbbx\n", "1!the line is not valid UTF-8\n");
	check_read("\xef", "1!the line is not valid UTF-8\n");
	/* Quotes: commas, doubled quotes, line breaks inside. */
	check_read("\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\nx,y,z\n",
	    "1:a,b|say \"hi\"|two\nlines\n3:x|y|z\n");
	check_read("\"\"\n", "1:\n");
	check_read("a\rb\r\nc\n", "1:a\n2:b\n3:c\n");
	/* A quote in an unquoted field: that line fails, the next is read. */
	check_read("ab\"c,d\ne,f\n",
	    "1!a quote inside a field that does not start with one (quote "
	    "the whole field and double its quotes)\n2:e|f\n");
	/* Text after a closing quote. */
	check_read("\"ab\"c,d\ne\n",
	    "1!a quoted field goes on after its closing quote\n2:e\n");
	/* A quote never closed swallows the rest of the file. */
	check_read("a\n\"b,c\nd\n", "1:a\n2!a quoted field is never closed\n");
	/* A quote opened on line 2 and closed on line 3, then garbage. */
	check_read("h\n\"x\ny\"z\nok\n",
	    "1:h\n2!a quoted field goes on after its closing quote\n4:ok\n");
	/* Invalid UTF-8 and NUL fail their line only. */
	check_read("a\n\xff\xfe\nb\n",
	    "1:a\n2!the line is not valid UTF-8\n3:b\n");
	CHECK_STR(read_all("a\nb\0c\nd\n", 8, 0, 0),
	    "1:a\n2!the line holds a NUL byte\n3:d\n");
	/* Overlong forms and surrogates are not UTF-8. */
	CHECK(!crm_utf8_valid("\xc0\xaf", 2));
	CHECK(!crm_utf8_valid("\xed\xa0\x80", 3));
	CHECK(!crm_utf8_valid("\xf4\x90\x80\x80", 4));
	CHECK(!crm_utf8_valid("\xe4\xb8", 2));
	CHECK(crm_utf8_valid("中文 ok \xf0\x9f\x98\x80",
	    strlen("中文 ok \xf0\x9f\x98\x80")));

	/* A record over the limit fails, and reading resumes. */
	memset(big, 'x', 100);
	memcpy(big + 100, "\nok\n", 5);
	CHECK_STR(read_all(big, strlen(big), 0, 64),
	    "1!the record is longer than the limit (a quoted field left "
	    "open?)\n2:ok\n");

	/* The callback can stop the reading. */
	memset(&o, 0, sizeof(o));
	o.stop_after = 1;
	r = crm_csv_reader_new(0);
	CHECK(!crm_csv_reader_feed(r, "a\nb\nc\n", 6, collect, &o));
	CHECK_STR(o.text, "1:a\n");
	crm_csv_reader_free(r);

	CHECK_DONE();
}
