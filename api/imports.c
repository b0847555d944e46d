/*
 * Bulk imports and exports. POST /v1/imports/{resource}: the body
 * (text/csv or application/x-ndjson, up to CRM_IMPORT_BODY_MAX; Kore has
 * put a large one on disk) is read, checked and written off the event
 * loop, by a Kore task on a database connection of its own (src/bulk.c);
 * the handler starts the task, sleeps, and answers with what the task
 * left. GET /v1/{resource}/export: the task writes the CSV to a
 * temporary file, which Kore then sends (sendfile), so memory stays flat
 * whatever the size.
 *
 * The task runs on a thread of its own, not in Kore's task pool: Kore
 * hands tasks to its pool threads in turn, whatever they are doing, so an
 * import of a minute on a pool thread would hold up every other login
 * (scrypt runs there) for that minute. The task is still Kore's (its
 * socket pair wakes the request when the thread finishes); at most
 * JOBS_MAX such threads run per worker.
 */
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "crm/bulk.h"

#define JOBS_MAX 2

/* One bulk job: written by the handler, then by the thread until done. */
struct api_job {
	struct kore_task task; /* first: the thread gets this pointer */
	int started;
	char *principal;
	struct crm_import_request rq;
	int fd; /* the body on disk, or -1 */
	const char *mem; /* the body in memory */
	size_t mem_len;
	size_t mem_off;
	struct crm_export_request ex;
	char *filters; /* an export's list filters, JSON (malloc'd) */
	char path[256]; /* an export's file, until it is sent */
	int out; /* its descriptor, until Kore's file reference has it */
	struct crm_bulk_result res;
	pid_t tid; /* its thread, once running (atomic) */
	int done; /* set by the thread when its work is done (atomic) */
	int lost; /* its thread died unfinished (job_watch) */
	LIST_ENTRY(api_job) list;
};

static int jobs_running;
static LIST_HEAD(, api_job) jobs = LIST_HEAD_INITIALIZER(jobs);
static struct kore_timer *watch;

static int job_free(void *);
static int import_start(struct http_request *, struct api_ctx *,
    const struct crm_import_spec *);
static int import_respond(struct http_request *, struct api_ctx *);
static ssize_t body_read(void *, char *, size_t);
static int import_entry(struct kore_task *);
static int query_flag(struct api_ctx *, const char *);
static int
job_run(struct http_request *, struct api_job *, int (*)(struct kore_task *));
static void *job_thread(void *);
static void job_watch(void *, u_int64_t);
static int export_start(struct http_request *, struct api_ctx *, const char *,
    const char *);
static int export_respond(struct http_request *, struct api_ctx *);
static int export_entry(struct kore_task *);

/* POST /v1/imports/customers */
int
api_imports_customers(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->job == NULL)
		return (import_start(req, ctx, &api_import_customers));
	return (import_respond(req, ctx));
}

/* POST /v1/imports/contacts */
int
api_imports_contacts(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->job == NULL)
		return (import_start(req, ctx, &api_import_contacts));
	return (import_respond(req, ctx));
}

/* POST /v1/imports/leads */
int
api_imports_leads(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->job == NULL)
		return (import_start(req, ctx, &api_import_leads));
	return (import_respond(req, ctx));
}

/* POST /v1/imports/products */
int
api_imports_products(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->job == NULL)
		return (import_start(req, ctx, &api_import_products));
	return (import_respond(req, ctx));
}

/* POST /v1/imports/orders */
int
api_imports_orders(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->job == NULL)
		return (import_start(req, ctx, &api_import_orders));
	return (import_respond(req, ctx));
}

/*
 * Release a job (ctx->job_free) once its thread is done: 0 while it still
 * runs (the request must live on; Kore frees it again later), 1 when
 * released.
 */
static int
job_free(void *arg)
{
	struct api_job *job = arg;

	if (job->started) {
		/* Kore destroyed the task itself if the client left. */
		if (job->task.req != NULL && !kore_task_finished(&job->task))
			return (0);
		if (job->task.req != NULL)
			kore_task_destroy(&job->task);
		LIST_REMOVE(job, list);
		jobs_running--;
	}
	if (job->out != -1)
		(void)close(job->out);
	if (job->path[0] != '\0')
		(void)unlink(job->path);
	free(job->filters);
	crm_bulk_result_cleanup(&job->res);
	kore_free(job->principal);
	kore_free(job);

	return (1);
}

/*
 * Check what can be checked before reading the body (its media type, that
 * there is one, a free job slot), then hand the import to a task thread.
 */
static int
import_start(struct http_request *req, struct api_ctx *ctx,
    const struct crm_import_spec *spec)
{
	struct api_job *job;
	const char *ctype;
	int format;

	ctype = NULL;
	(void)http_request_header(req, "content-type", &ctype);
	if ((format = crm_import_media_type(ctype)) == 0)
		return (api_respond_error(req, ctx, CRM_ERR_UNSUPPORTED_MEDIA,
		    "Send the file as text/csv (with a header row) or "
		    "application/x-ndjson, in UTF-8."));
	if (req->content_length == 0 ||
	    (req->http_body == NULL && req->http_body_fd == -1))
		return (api_respond_error(req, ctx, CRM_ERR_BAD_REQUEST,
		    "The request body is empty: send the file."));
	if (jobs_running >= JOBS_MAX)
		return (api_respond_error(req, ctx, CRM_ERR_UNAVAILABLE,
		    "Other imports and exports are running; retry shortly."));

	job = kore_calloc(1, sizeof(*job));
	crm_bulk_result_init(&job->res);
	job->out = -1;
	job->principal = kore_strdup(ctx->principal);
	job->fd = req->http_body_fd;
	if (job->fd == -1) {
		job->mem = (const char *)req->http_body->data;
		job->mem_len = req->http_body->length;
	} else if (lseek(job->fd, 0, SEEK_SET) == -1) {
		kore_free(job->principal);
		kore_free(job);
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
	}
	job->rq.conninfo = api_config.database_url;
	job->rq.principal = job->principal;
	job->rq.spec = spec;
	job->rq.format = format;
	job->rq.upsert = !strcmp(json_string_value(json_object_get(ctx->query,
				     "mode")) != NULL
		? json_string_value(json_object_get(ctx->query, "mode"))
		: "insert",
	    "upsert");
	job->rq.atomic = query_flag(ctx, "atomic");
	job->rq.dry_run = query_flag(ctx, "dry_run");
	job->rq.body.read = body_read;
	job->rq.body.arg = job;
	ctx->job = job;
	ctx->job_free = job_free;

	if (!job_run(req, job, import_entry))
		return (api_respond_error(req, ctx, CRM_ERR_UNAVAILABLE,
		    "The import cannot start now; retry shortly."));

	return (KORE_RESULT_RETRY);
}

/*
 * Start `entry` for `job` as a Kore task bound to `req`, on a thread of
 * its own (see the top of the file). Returns 0 when no thread could be
 * started (the job stays unstarted).
 */
static int
job_run(struct http_request *req, struct api_job *job,
    int (*entry)(struct kore_task *))
{
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	kore_task_create(&job->task, entry);
	if (pthread_attr_init(&attr) != 0) {
		kore_task_destroy(&job->task);
		return (0);
	}
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	kore_task_bind_request(&job->task, req);
	/* What kore_task_run() does, but for our thread. */
	kore_platform_schedule_read(job->task.fds[0], &job->task);
	job->started = 1;
	jobs_running++;
	if ((rc = pthread_create(&tid, &attr, job_thread, job)) != 0) {
		kore_log(LOG_ERR, "crm: no thread for a bulk job: %s",
		    strerror(rc));
		kore_task_destroy(&job->task);
		job->started = 0;
		jobs_running--;
	} else {
		LIST_INSERT_HEAD(&jobs, job, list);
		if (watch == NULL)
			watch = kore_timer_add(job_watch, 1000, NULL, 0);
	}
	(void)pthread_attr_destroy(&attr);

	return (job->started);
}

/*
 * The job's thread, as Kore's own task threads run a task: its state,
 * its entry, then kore_task_finish(), whose end of the socket pair wakes
 * the request in the event loop.
 */
static void *
job_thread(void *arg)
{
	struct api_job *job = arg;
	int r;

	__atomic_store_n(&job->tid, (pid_t)syscall(SYS_gettid),
	    __ATOMIC_RELEASE);
	kore_task_set_state(&job->task, KORE_TASK_STATE_RUNNING);
	r = job->task.entry(&job->task);
	__atomic_store_n(&job->done, 1, __ATOMIC_RELEASE);
	kore_task_set_result(&job->task, r);
	kore_task_finish(&job->task);

	return (NULL);
}

/*
 * Every second while jobs exist: a job whose thread is gone before its
 * work was done (Kore's seccomp filter kills the offending thread alone,
 * silently) would hold its request, and its database transaction with
 * its locks, forever. Close its database connection (the server rolls
 * the transaction back) and finish its task, which answers 500. Needs
 * /proc; without it (a chroot) nothing is checked.
 */
static void
job_watch(void *arg, u_int64_t now)
{
	struct api_job *job;
	char path[64];
	pid_t tid;
	int fd;

	(void)arg;
	(void)now;
	(void)snprintf(path, sizeof(path), "/proc/self/task/%d", (int)getpid());
	if (LIST_EMPTY(&jobs) || access(path, F_OK) == -1)
		return;
	for (job = LIST_FIRST(&jobs); job != NULL; job = LIST_NEXT(job, list)) {
		tid = __atomic_load_n(&job->tid, __ATOMIC_ACQUIRE);
		if (tid == 0 || job->lost ||
		    __atomic_load_n(&job->done, __ATOMIC_ACQUIRE))
			continue;
		(void)snprintf(path, sizeof(path), "/proc/self/task/%d",
		    (int)tid);
		if (access(path, F_OK) == 0 || errno != ENOENT)
			continue;
		job->lost = 1;
		kore_log(LOG_ERR,
		    "crm: bulk job thread %d died unfinished "
		    "(a seccomp kill?); closing its database connection",
		    (int)tid);
		fd = __atomic_load_n(&job->res.conn_fd, __ATOMIC_ACQUIRE);
		if (fd != -1)
			(void)close(fd);
		/* What it left may be half-built: dropped, not freed. */
		job->res.report = NULL;
		job->res.status = 500;
		crm_error_init(&job->res.err);
		crm_error_set(&job->res.err, CRM_ERR_INTERNAL, NULL);
		kore_task_finish(&job->task);
	}
}

/* Once the thread is done, answer with its report or its problem. */
static int
import_respond(struct http_request *req, struct api_ctx *ctx)
{
	struct api_job *job = ctx->job;
	char *doc;
	size_t len;
	int r;

	if (!kore_task_finished(&job->task)) {
		http_request_sleep(req);
		return (KORE_RESULT_RETRY);
	}
	if (job->res.log[0] != '\0')
		kore_log(LOG_WARNING, "request %s: import: %s", ctx->request_id,
		    job->res.log);

	if (job->res.status == 200 && job->res.report != NULL) {
		doc = json_dumps(job->res.report, JSON_COMPACT);
		if (doc == NULL)
			return (api_respond_error(req, ctx, CRM_ERR_INTERNAL,
			    NULL));
		r = api_respond_json(req, ctx, 200, doc, strlen(doc));
		free(doc);
		return (r);
	}
	if (job->res.report == NULL)
		return (api_respond_problem(req, ctx, &job->res.err));

	/* An atomic import that wrote nothing: a problem with the report. */
	doc = crm_import_problem(&job->res.err, job->res.report, req->path,
	    ctx->request_id, &len);
	if (doc == NULL)
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
	ctx->status = job->res.status;
	http_response_header(req, "content-type",
	    "application/problem+json; charset=utf-8");
	http_response(req, job->res.status, doc, len);
	free(doc);

	return (KORE_RESULT_OK);
}

/*
 * The task thread: the whole import. It reads only its job (the request
 * sleeps and Kore keeps it, with its body, until the task is done).
 */
static int
import_entry(struct kore_task *t)
{
	struct api_job *job = (struct api_job *)t;

	crm_import_run(&job->rq, &job->res);

	return (KORE_RESULT_OK);
}

/* The body, chunk by chunk: from Kore's temporary file or its buffer. */
static ssize_t
body_read(void *arg, char *buf, size_t size)
{
	struct api_job *job = arg;
	ssize_t n;

	if (job->fd != -1) {
		do {
			n = read(job->fd, buf, size);
		} while (n == -1 && errno == EINTR);
		return (n);
	}
	n = (ssize_t)(job->mem_len - job->mem_off < size
		? job->mem_len - job->mem_off
		: size);
	memcpy(buf, job->mem + job->mem_off, (size_t)n);
	job->mem_off += (size_t)n;

	return (n);
}

/* A boolean query parameter (false when absent). */
static int
query_flag(struct api_ctx *ctx, const char *name)
{
	return (json_is_true(json_object_get(ctx->query, name)));
}

/* --- exports ------------------------------------------------------------ */

/* GET /v1/customers/export */
int
api_exports_customers(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->job == NULL)
		return (export_start(req, ctx, "customers",
		    "SELECT api_customers_list($1, $2)"));
	return (export_respond(req, ctx));
}

/* GET /v1/contacts/export */
int
api_exports_contacts(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->job == NULL)
		return (export_start(req, ctx, "contacts",
		    "SELECT api_contacts_list($1, NULL, $2)"));
	return (export_respond(req, ctx));
}

/* GET /v1/leads/export */
int
api_exports_leads(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->job == NULL)
		return (export_start(req, ctx, "leads",
		    "SELECT api_leads_list($1, $2)"));
	return (export_respond(req, ctx));
}

/* GET /v1/opportunities/export */
int
api_exports_opportunities(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->job == NULL)
		return (export_start(req, ctx, "opportunities",
		    "SELECT api_opportunities_list($1, $2)"));
	return (export_respond(req, ctx));
}

/* GET /v1/orders/export */
int
api_exports_orders(struct http_request *req, struct api_ctx *ctx)
{
	if (ctx->job == NULL)
		return (export_start(req, ctx, "orders",
		    "SELECT api_orders_list($1, $2)"));
	return (export_respond(req, ctx));
}

/*
 * Start exporting `resource` through its list `statement`. The route
 * takes the list's own query parameters: its filters and sort apply, its
 * paging does not (422 for limit, cursor and count).
 */
static int
export_start(struct http_request *req, struct api_ctx *ctx,
    const char *resource, const char *statement)
{
	static const char *const paging[] = {"limit", "cursor", "count", NULL};
	struct crm_error err;
	struct api_job *job;
	char msg[128];
	size_t i;
	int r;

	crm_error_init(&err);
	for (i = 0; paging[i] != NULL; i++) {
		if (json_object_get(ctx->query, paging[i]) == NULL)
			continue;
		(void)snprintf(msg, sizeof(msg),
		    "An export has every row: '%s' pages a list only.",
		    paging[i]);
		crm_error_field(&err, paging[i], "unknown_parameter", msg);
	}
	if (err.errors != NULL && json_array_size(err.errors) > 0) {
		crm_error_set(&err, CRM_ERR_VALIDATION,
		    "The query has invalid parameters; see errors.");
		r = api_respond_problem(req, ctx, &err);
		crm_error_cleanup(&err);
		return (r);
	}
	crm_error_cleanup(&err);
	if (jobs_running >= JOBS_MAX)
		return (api_respond_error(req, ctx, CRM_ERR_UNAVAILABLE,
		    "Other imports and exports are running; retry shortly."));

	job = kore_calloc(1, sizeof(*job));
	crm_bulk_result_init(&job->res);
	job->principal = kore_strdup(ctx->principal);
	job->fd = -1;
	ctx->job = job;
	ctx->job_free = job_free;

	/* Beside Kore's request bodies: a directory the worker may write. */
	(void)snprintf(job->path, sizeof(job->path), "%s/export-%s-XXXXXX",
	    http_body_disk_path, ctx->request_id);
	if ((job->out = mkstemp(job->path)) == -1) {
		kore_log(LOG_ERR, "request %s: export: mkstemp %s: %s",
		    ctx->request_id, job->path, strerror(errno));
		job->path[0] = '\0';
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
	}
	job->filters = json_dumps(ctx->query, JSON_COMPACT);
	if (job->filters == NULL)
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
	job->ex.conninfo = api_config.database_url;
	job->ex.principal = job->principal;
	job->ex.resource = resource;
	job->ex.statement = statement;
	job->ex.filters = job->filters;
	job->ex.fd = job->out;

	if (!job_run(req, job, export_entry))
		return (api_respond_error(req, ctx, CRM_ERR_UNAVAILABLE,
		    "The export cannot start now; retry shortly."));

	return (KORE_RESULT_RETRY);
}

/*
 * Once the file is written, hand it to Kore (sendfile from our descriptor;
 * the name is removed at once, so the file goes when Kore lets it go).
 */
static int
export_respond(struct http_request *req, struct api_ctx *ctx)
{
	struct api_job *job = ctx->job;
	struct kore_fileref *ref;
	struct stat st;
	char disposition[96], rows[24];

	if (!kore_task_finished(&job->task)) {
		http_request_sleep(req);
		return (KORE_RESULT_RETRY);
	}
	if (job->res.log[0] != '\0')
		kore_log(LOG_WARNING, "request %s: export: %s", ctx->request_id,
		    job->res.log);
	if (job->res.status != 200)
		return (api_respond_problem(req, ctx, &job->res.err));
	if (req->owner == NULL)
		return (KORE_RESULT_OK);

	if (fstat(job->out, &st) == -1 ||
	    (ref = kore_fileref_create(req->owner->owner->server, job->path,
		 job->out, st.st_size, &st.st_mtim)) == NULL)
		return (api_respond_error(req, ctx, CRM_ERR_INTERNAL, NULL));
	job->out = -1;
	(void)unlink(job->path);
	job->path[0] = '\0';

	(void)snprintf(disposition, sizeof(disposition),
	    "attachment; filename=\"%s.csv\"", job->ex.resource);
	(void)snprintf(rows, sizeof(rows), "%lld",
	    (long long)json_integer_value(
		json_object_get(job->res.report, "rows")));
	http_response_header(req, "content-type", "text/csv; charset=utf-8");
	http_response_header(req, "content-disposition", disposition);
	http_response_header(req, "x-export-rows", rows);
	ctx->status = 200;
	http_response_fileref(req, 200, ref);

	return (KORE_RESULT_OK);
}

/* The task thread: the whole export, into the job's file. */
static int
export_entry(struct kore_task *t)
{
	struct api_job *job = (struct api_job *)t;

	crm_export_run(&job->ex, &job->res);

	return (KORE_RESULT_OK);
}
