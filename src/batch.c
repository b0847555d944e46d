/*
 * Batch writes (POST /v1/{resource}/batch). Before the database sees a
 * batch, each item is checked here exactly as its single-record route
 * checks a body: the same field lists, the same error codes and messages
 * (fields of `data` are named "data.<field>"), plus what an item itself
 * must say (its op, the record it names). After the database ran the
 * accepted items (sql/0033_batch.sql), its per-item outcomes become the
 * answer: one result per item, in order, failures as problem documents
 * rendered by the one problem renderer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/batch.h"
#include "crm/problem.h"

static int
item_check(const struct crm_batch_kind *, json_t *, struct crm_error *);
static void item_op_check(const struct crm_batch_kind *, json_t *, const char *,
    struct crm_error *);
static void data_check(const struct crm_batch_kind *, json_t *, const char *,
    struct crm_error *);
static char *item_key(json_t *, const char **);
static int duplicate_check(json_t *, size_t, json_t *, struct crm_error *);
static json_t *result_problem(size_t, json_t *, const struct crm_error *,
    const char *, const char *);
static json_t *db_result(json_t *, const char *, const char *, json_t *);
static void data_fields(struct crm_error *);
static void roll_back(json_t *, const char *, const char *);

static const char *const ops[] = {"create", "update", "upsert", NULL};

/* An item's own members; `data` is checked against the resource's list. */
static const struct crm_field item_fields[] = {
    {"op", CRM_T_ENUM, CRM_F_REQUIRED, 0, 0, ops},
    {"id", CRM_T_UUID, 0, 0, 0, NULL},
    {"external_id", CRM_T_TEXT, 0, 1, 100, NULL},
    {"if_match", CRM_T_INT, 0, 1, 2147483647, NULL},
    {"data", CRM_T_OBJECT, CRM_F_REQUIRED, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

/* The same, for resources whose new records name their customer. */
static const struct crm_field parent_item_fields[] = {
    {"op", CRM_T_ENUM, CRM_F_REQUIRED, 0, 0, ops},
    {"id", CRM_T_UUID, 0, 0, 0, NULL},
    {"external_id", CRM_T_TEXT, 0, 1, 100, NULL},
    {"if_match", CRM_T_INT, 0, 1, 2147483647, NULL},
    {"data", CRM_T_OBJECT, CRM_F_REQUIRED, 0, 0, NULL},
    {"customer_id", CRM_T_UUID, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

/*
 * Check every item of `items` (an array of objects, at most
 * CRM_BATCH_MAX, as the route's field list guarantees) for resource
 * `kind`. Unless `skip_duplicates`, an item naming the same record as an
 * earlier one (the same id, or the same external_id) is refused too.
 * Returns CRM_OK with two new arrays: *results, one slot per item, the
 * result of each refused item ({index, status: 422, id, problem}, the
 * problem's `instance` and `request_id` as given) or JSON null; and
 * *todo, the accepted items with their index, for api_batch(). CRM_ERROR
 * only when memory ran out (nothing is returned then).
 */
int
crm_batch_check(const struct crm_batch_kind *kind, json_t *items,
    int skip_duplicates, const char *instance, const char *request_id,
    json_t **results, json_t **todo)
{
	struct crm_error err;
	json_t *item, *res, *copy, *seen;
	size_t i;
	int ok;

	*results = json_array();
	*todo = json_array();
	seen = json_object();
	ok = *results != NULL && *todo != NULL && seen != NULL;

	json_array_foreach(items, i, item)
	{
		if (!ok)
			break;
		crm_error_init(&err);
		if (item_check(kind, item, &err) &&
		    (skip_duplicates || duplicate_check(item, i, seen, &err))) {
			copy = json_copy(item);
			ok = copy != NULL &&
			    json_object_set_new(copy, "index",
				json_integer((json_int_t)i)) == 0 &&
			    json_array_append_new(*todo, copy) == 0 &&
			    json_array_append_new(*results, json_null()) == 0;
		} else {
			res = result_problem(i,
			    json_object_get(item, "id") != NULL &&
				    json_is_string(json_object_get(item, "id"))
				? json_object_get(item, "id")
				: NULL,
			    &err, instance, request_id);
			ok = res != NULL &&
			    json_array_append_new(*results, res) == 0;
		}
		crm_error_cleanup(&err);
	}

	json_decref(seen);
	if (!ok) {
		json_decref(*results);
		json_decref(*todo);
		*results = *todo = NULL;
		return (CRM_ERROR);
	}

	return (CRM_OK);
}

/*
 * Check one item: its own members, what its op needs, then its data
 * against the single-record route's list. Every problem is added to
 * `err` (a 422 with field errors); returns CRM_OK when there was none.
 */
static int
item_check(const struct crm_batch_kind *kind, json_t *item,
    struct crm_error *err)
{
	const char *op;
	json_t *data;
	int ok;

	ok = 0;
	if (!json_is_object(item)) {
		crm_error_field(err, "item", "type", "An item is an object.");
		goto failed;
	}
	ok = crm_validate_object(item,
	    kind->parent ? parent_item_fields : item_fields, 0, err);
	op = json_string_value(json_object_get(item, "op"));
	data = json_object_get(item, "data");
	if (op == NULL ||
	    (strcmp(op, "create") && strcmp(op, "update") &&
		strcmp(op, "upsert")))
		goto failed;
	item_op_check(kind, item, op, err);
	if (json_is_object(data))
		data_check(kind, data, op, err);

failed:
	/* Every check adds its field errors: none means the item is good. */
	if (ok && (err->errors == NULL || json_array_size(err->errors) == 0))
		return (CRM_OK);
	crm_error_set(err, CRM_ERR_VALIDATION,
	    "The item has invalid fields; see errors.");
	return (CRM_ERROR);
}

/* What each op needs of the item's own members (see the spec). */
static void
item_op_check(const struct crm_batch_kind *kind, json_t *item, const char *op,
    struct crm_error *err)
{
	json_t *ext;
	char msg[200];

	if (!strcmp(op, "upsert") && !kind->upsert) {
		(void)snprintf(msg, sizeof(msg),
		    "%s have no external_id to upsert by: use create or "
		    "update.",
		    kind->resource);
		crm_error_field(err, "op", "enum", msg);
		return;
	}
	if (!strcmp(op, "update")) {
		if (json_object_get(item, "id") == NULL)
			crm_error_field(err, "id", "required",
			    "'id' is required to update.");
		if (json_object_get(item, "external_id") != NULL)
			crm_error_field(err, "external_id", "not_allowed",
			    "An update names its record by id; a new "
			    "external_id goes in data.");
	} else {
		if (json_object_get(item, "id") != NULL)
			crm_error_field(err, "id", "not_allowed",
			    "Only an update names its record by id.");
		if (json_object_get(item, "if_match") != NULL)
			crm_error_field(err, "if_match", "not_allowed",
			    "if_match guards updates only.");
	}
	if (!strcmp(op, "create") && json_object_get(item, "external_id"))
		crm_error_field(err, "external_id", "not_allowed",
		    "A create takes its external_id in data.");
	if (!strcmp(op, "upsert")) {
		ext = json_object_get(json_object_get(item, "data"),
		    "external_id");
		if (json_object_get(item, "external_id") == NULL)
			crm_error_field(err, "external_id", "required",
			    "'external_id' is required to upsert.");
		else if (ext != NULL &&
		    !json_equal(ext, json_object_get(item, "external_id")))
			crm_error_field(err, "data.external_id", "mismatch",
			    "data.external_id differs from the item's "
			    "external_id.");
	}
	if (kind->parent && !strcmp(op, "create") &&
	    json_object_get(item, "customer_id") == NULL)
		crm_error_field(err, "customer_id", "required",
		    "'customer_id' is required to create.");
	if (kind->parent && strcmp(op, "create") &&
	    json_object_get(item, "customer_id") != NULL)
		crm_error_field(err, "customer_id", "not_allowed",
		    "customer_id names the customer of a new record only.");
}

/*
 * Check `data` exactly as the single-record route checks its body: a
 * create (all of it, required fields included) for create and upsert, a
 * merge patch for update. Its field errors are added to `err` as
 * "data.<field>", with the same codes and messages.
 */
static void
data_check(const struct crm_batch_kind *kind, json_t *data, const char *op,
    struct crm_error *err)
{
	struct crm_error derr;
	json_t *e;
	const char *field;
	char path[160];
	size_t i;
	int patch;

	patch = !strcmp(op, "update");
	crm_error_init(&derr);
	if (!crm_validate_object(data, patch ? kind->update : kind->create,
		patch, &derr)) {
		json_array_foreach(derr.errors, i, e)
		{
			field = json_string_value(json_object_get(e, "field"));
			(void)snprintf(path, sizeof(path), "data.%s",
			    field != NULL ? field : "");
			crm_error_field(err, path,
			    json_string_value(json_object_get(e, "code")),
			    json_string_value(json_object_get(e, "message")));
		}
	}
	crm_error_cleanup(&derr);
}

/*
 * The record an accepted item names, as a key of the batch ("id:<uuid>"
 * or "ext:<external_id>", malloc'ed), with the field that names it in
 * *field; NULL for a create without an external_id.
 */
static char *
item_key(json_t *item, const char **field)
{
	const char *op, *v;
	char *key;

	op = json_string_value(json_object_get(item, "op"));
	if (!strcmp(op, "update")) {
		*field = "id";
		v = json_string_value(json_object_get(item, "id"));
	} else if (!strcmp(op, "upsert")) {
		*field = "external_id";
		v = json_string_value(json_object_get(item, "external_id"));
	} else {
		*field = "data.external_id";
		v = json_string_value(
		    json_object_get(json_object_get(item, "data"),
			"external_id"));
	}
	if (v == NULL ||
	    asprintf(&key, "%s:%s", !strcmp(*field, "id") ? "id" : "ext", v) <
		0)
		return (NULL);

	return (key);
}

/*
 * The duplicate check of a batch (X-Skip-Duplicate-Check turns it off):
 * item `i` may not name a record an earlier item named (`seen` maps keys
 * to item indexes). Returns CRM_OK when it does not; else adds the field
 * error to `err` and returns CRM_ERROR.
 */
static int
duplicate_check(json_t *item, size_t i, json_t *seen, struct crm_error *err)
{
	const char *field;
	char *key;
	json_t *first;
	char msg[160];
	int ok;

	if ((key = item_key(item, &field)) == NULL)
		return (CRM_OK);
	ok = CRM_OK;
	if ((first = json_object_get(seen, key)) != NULL) {
		(void)snprintf(msg, sizeof(msg),
		    "Item %lld of this batch already names this record.",
		    (long long)json_integer_value(first));
		crm_error_field(err, field, "duplicate", msg);
		crm_error_set(err, CRM_ERR_VALIDATION,
		    "The item repeats a record of the batch; see errors.");
		ok = CRM_ERROR;
	} else {
		(void)json_object_set_new(seen, key,
		    json_integer((json_int_t)i));
	}
	free(key);

	return (ok);
}

/*
 * A new result {index, status, id, problem} for item `index` from `err`
 * (`id` borrowed, may be NULL). NULL when memory ran out.
 */
static json_t *
result_problem(size_t index, json_t *id, const struct crm_error *err,
    const char *instance, const char *request_id)
{
	json_t *res, *problem;
	char *doc;
	size_t len;

	if ((doc = crm_problem_render(err, instance, request_id, &len)) == NULL)
		return (NULL);
	problem = json_loadb(doc, len, 0, NULL);
	free(doc);
	if (problem == NULL)
		return (NULL);

	res = json_pack("{s:I, s:i, s:O?, s:o}", "index", (json_int_t)index,
	    "status", crm_error_status(err->kind), "id", id, "problem",
	    problem);
	return (res);
}

/*
 * The result of one item the database ran (`r`, from api_batch, which
 * names the record when it knows it): a success as it is plus the
 * record's id, a NULL
 * answer as 404, an error as the problem a single request would get.
 * Errors that are not the API's own (SQLSTATE CRnnn) are appended to
 * `logs` as {index, state, message}: PostgreSQL's text is for the log
 * only. Returns a new reference, NULL when memory ran out.
 */
static json_t *
db_result(json_t *r, const char *instance, const char *request_id, json_t *logs)
{
	struct crm_error err;
	json_t *res, *body, *id;
	const char *state;
	size_t index;

	index = (size_t)json_integer_value(json_object_get(r, "index"));
	id = json_object_get(r, "id");
	if ((body = json_object_get(r, "body")) != NULL)
		return (json_pack("{s:I, s:O, s:O?, s:O}", "index",
		    (json_int_t)index, "status", json_object_get(r, "status"),
		    "id", json_object_get(body, "id"), "body", body));

	crm_error_init(&err);
	if ((state = json_string_value(json_object_get(r, "state"))) == NULL) {
		crm_error_set(&err, CRM_ERR_NOT_FOUND,
		    "The resource does not exist.");
	} else {
		crm_error_from_pg(&err, state,
		    json_string_value(json_object_get(r, "message")),
		    json_string_value(json_object_get(r, "detail")));
		if (strncmp(state, "CR", 2) != 0 ||
		    err.kind >= CRM_ERR_INTERNAL)
			(void)json_array_append_new(logs,
			    json_pack("{s:I, s:s, s:s?}", "index",
				(json_int_t)index, "state", state, "message",
				json_string_value(
				    json_object_get(r, "message"))));
	}
	data_fields(&err);
	res = result_problem(index, json_is_string(id) ? id : NULL, &err,
	    instance, request_id);
	crm_error_cleanup(&err);

	return (res);
}

/*
 * The database's field errors name fields of the item's data (the body of
 * a single request): name them "data.<field>", as the checks here do.
 */
static void
data_fields(struct crm_error *err)
{
	json_t *e;
	const char *field;
	char path[160];
	size_t i;

	json_array_foreach(err->errors, i, e)
	{
		field = json_string_value(json_object_get(e, "field"));
		if (field == NULL)
			continue;
		(void)snprintf(path, sizeof(path), "data.%s", field);
		(void)json_object_set_new(e, "field", json_string(path));
	}
}

/*
 * An all-or-none batch that failed: every success in `results` was rolled
 * back, and becomes a 424 problem naming the items that failed.
 */
static void
roll_back(json_t *results, const char *instance, const char *request_id)
{
	struct crm_error err;
	json_t *r, *res;
	char which[120];
	size_t i, n, len;

	which[0] = '\0';
	n = 0;
	json_array_foreach(results, i, r)
	{
		if (json_object_get(r, "problem") == NULL)
			continue;
		len = strlen(which);
		if (n++ < 10)
			(void)snprintf(which + len, sizeof(which) - len,
			    "%s%zu", len > 0 ? ", " : "", i);
		else if (n == 11)
			(void)snprintf(which + len, sizeof(which) - len,
			    ", ...");
	}

	json_array_foreach(results, i, r)
	{
		if (json_object_get(r, "problem") != NULL)
			continue;
		crm_error_init(&err);
		crm_error_set(&err, CRM_ERR_FAILED_DEPENDENCY,
		    "Not written: the batch is all or none and item%s %s "
		    "failed.",
		    n == 1 ? "" : "s", which);
		/* A rolled-back create has no record: its id is gone too. */
		res = result_problem(i,
		    json_integer_value(json_object_get(r, "status")) == 201
			? NULL
			: json_object_get(r, "id"),
		    &err, instance, request_id);
		if (res != NULL)
			(void)json_array_set_new(results, i, res);
		crm_error_cleanup(&err);
	}
}

/*
 * The answer of a batch: `results` from crm_batch_check() (completed in
 * place), `db` the text api_batch() returned (NULL when no item reached
 * the database), `all_or_none` as the request said. Non-API errors of
 * the database are appended to `logs` (see db_result). Returns the JSON
 * text of the answer {all_or_none, rolled_back, succeeded, failed,
 * results}, malloc'ed, its length in *len; NULL when `db` is not what
 * api_batch() answers or memory ran out.
 */
char *
crm_batch_answer(json_t *results, const char *db, size_t dblen, int all_or_none,
    const char *instance, const char *request_id, json_t *logs, size_t *len)
{
	json_t *doc, *answer, *r, *res;
	char *out;
	size_t i, index, failed;
	int rolled_back;

	out = NULL;
	answer = NULL;
	doc = NULL;
	rolled_back = 0;

	if (db != NULL) {
		if ((doc = json_loadb(db, dblen, 0, NULL)) == NULL ||
		    !json_is_array(json_object_get(doc, "results")))
			goto cleanup;
		rolled_back = json_is_false(json_object_get(doc, "written"));
		json_array_foreach(json_object_get(doc, "results"), i, r)
		{
			index = (size_t)json_integer_value(
			    json_object_get(r, "index"));
			if (!json_is_null(json_array_get(results, index)))
				goto cleanup;
			res = db_result(r, instance, request_id, logs);
			if (res == NULL ||
			    json_array_set_new(results, index, res) != 0)
				goto cleanup;
		}
	}

	failed = 0;
	json_array_foreach(results, i, r)
	{
		if (json_is_null(r))
			goto cleanup; /* an item the database did not answer */
		if (json_object_get(r, "problem") != NULL)
			failed++;
	}
	if (all_or_none && failed > 0) {
		rolled_back = 1;
		roll_back(results, instance, request_id);
	}

	answer = json_pack("{s:b, s:b, s:I, s:I, s:O}", "all_or_none",
	    all_or_none, "rolled_back", rolled_back, "succeeded",
	    (json_int_t)(rolled_back ? 0 : json_array_size(results) - failed),
	    "failed", (json_int_t)failed, "results", results);
	if (answer == NULL)
		goto cleanup;
	out = json_dumps(answer, JSON_COMPACT);
	if (out != NULL)
		*len = strlen(out);

cleanup:
	json_decref(answer);
	json_decref(doc);
	return (out);
}
