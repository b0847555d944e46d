/* Unit tests of src/csv.c: content negotiation and the CSV itself. */
#include <stdlib.h>

#include "check.h"
#include "crm/csv.h"

/* Render the rows of JSON `text`; returns a new string or NULL. */
static char *
render(const char *text)
{
	json_t *doc, *rows;
	char *out;
	size_t len;

	doc = json_loads(text, 0, NULL);
	rows = crm_csv_rows(doc);
	out = rows != NULL ? crm_csv_render(rows, &len) : NULL;
	if (out != NULL && strlen(out) != len) {
		free(out);
		out = NULL;
	}
	json_decref(rows);
	json_decref(doc);
	return (out);
}

int
main(void)
{
	char *s;

	CHECK(!crm_csv_accepted(NULL));
	CHECK(!crm_csv_accepted("*/*"));
	CHECK(!crm_csv_accepted("application/json"));
	CHECK(crm_csv_accepted("text/csv"));
	CHECK(crm_csv_accepted("Text/CSV"));
	CHECK(crm_csv_accepted("text/csv, */*"));
	CHECK(crm_csv_accepted("application/json;q=0.5, text/csv"));
	CHECK(!crm_csv_accepted("application/json, text/csv"));
	CHECK(!crm_csv_accepted("text/csv;q=0.4, application/json;q=0.5"));
	CHECK(!crm_csv_accepted("text/csv;q=0"));
	CHECK(crm_csv_accepted("text/html, text/csv ; q=0.9"));
	CHECK(!crm_csv_accepted("text/csvx"));

	/* A report: its groups, then its total; nested objects flattened. */
	s = render("{\"period\":\"2026-Q4\",\"groups\":[{\"key\":\"a\","
		   "\"label\":\"张伟\",\"amount\":\"1.50\",\"by\":{\"x\":\"1\","
		   "\"y\":null}}],\"total\":{\"key\":null,\"label\":\"合计\","
		   "\"amount\":\"1.50\",\"by\":{\"x\":\"1\",\"y\":\"2\"}}}");
	CHECK_STR(s,
	    "\xef\xbb\xbfkey,label,amount,by.x,by.y\r\n"
	    "a,张伟,1.50,1,\r\n"
	    ",合计,1.50,1,2\r\n");
	free(s);

	/* Quoting, formulas defused, numbers, booleans, arrays, new columns. */
	s = render("{\"data\":[{\"name\":\"a,b\",\"q\":\"say \\\"hi\\\"\"},"
		   "{\"name\":\"=1+2\",\"n\":3,\"ok\":true,\"tags\":[\"x\"],"
		   "\"q\":\"line\\nbreak\"},{\"name\":\"\",\"q\":\"-5.00\"},"
		   "{\"name\":\"-x\",\"q\":\"+1\"}]}");
	CHECK_STR(s,
	    "\xef\xbb\xbfname,q,n,ok,tags\r\n"
	    "\"a,b\",\"say \"\"hi\"\"\",,,\r\n"
	    "\"'=1+2\",\"line\nbreak\",3,true,\"[\"\"x\"\"]\"\r\n"
	    ",-5.00,,,\r\n"
	    "\"'-x\",+1,,,\r\n");
	free(s);

	/* The first array is the rows, whatever its name. */
	s = render("{\"as_of\":\"x\",\"trend\":[{\"m\":1}],\"z\":[{\"q\":2}]}");
	CHECK_STR(s, "\xef\xbb\xbfm\r\n1\r\n");
	free(s);

	/* An answer without rows has no CSV; an empty list has a header. */
	CHECK(render("{\"status\":\"ok\"}") == NULL);
	s = render("{\"data\":[]}");
	CHECK_STR(s, "\xef\xbb\xbf\r\n");
	free(s);

	/* One line of an export: the same cells, in the order given. */
	{
		json_t *cells;
		size_t n;

		cells = json_loads("[\"张三\", null, \"=cmd\", [\"a\", \"b\"],"
				   " true, 7, \"a,b\"]",
		    0, NULL);
		s = crm_csv_line(cells, &n);
		CHECK_STR(s,
		    "张三,,\"'=cmd\",\"[\"\"a\"\",\"\"b\"\"]\",true,7,"
		    "\"a,b\"\r\n");
		CHECK(s != NULL && strlen(s) == n);
		free(s);
		json_decref(cells);
	}

	CHECK_DONE();
}
