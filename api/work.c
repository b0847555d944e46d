/*
 * Password hashing and verification (scrypt, ~50 ms of CPU each) and the
 * DNS resolution of webhook targets (blocking getaddrinfo) run in Kore's
 * task threads so the event loop keeps serving other requests. The
 * handler starts the work, returns KORE_RESULT_RETRY, and is woken when
 * the thread is done; the thread touches only ctx->work.
 */
#include <string.h>

#include "api.h"
#include "crm/auth.h"
#include "crm/webhook.h"

static void resolve_entry(struct api_work *);

static int
work_entry(struct kore_task *t)
{
	struct api_work *w = (struct api_work *)t;
	struct crm_error err;

	if (w->resolve) {
		resolve_entry(w);
	} else if (w->verify) {
		if (w->encoded[0] != '\0') {
			w->ok = crm_password_verify(w->password, w->encoded);
		} else {
			/* Unknown account: spend the same time, then fail. */
			crm_password_dummy_verify(w->password);
			w->ok = 0;
		}
	} else {
		crm_error_init(&err);
		w->ok = crm_password_hash(w->password, w->encoded,
		    sizeof(w->encoded), &err);
		crm_error_cleanup(&err);
	}

	return (KORE_RESULT_OK);
}

/*
 * Start hashing `password` (verify = 0: the result lands in
 * ctx->work->encoded) or verifying it against `encoded` (verify = 1, NULL
 * for an unknown account: the result is ctx->work->ok). Returns what the
 * handler returns.
 */
int
api_work_start(struct http_request *req, struct api_ctx *ctx, int verify,
    const char *password, const char *encoded)
{
	struct api_work *w;

	w = kore_calloc(1, sizeof(*w));
	w->verify = verify;
	(void)kore_strlcpy(w->password, password, sizeof(w->password));
	if (encoded != NULL)
		(void)kore_strlcpy(w->encoded, encoded, sizeof(w->encoded));
	ctx->work = w;

	kore_task_create(&w->task, work_entry);
	kore_task_bind_request(&w->task, req);
	kore_task_run(&w->task);
	w->started = 1;

	return (KORE_RESULT_RETRY);
}

/* 1 when the work finished (its results may be read), else 0: sleep. */
int
api_work_done(struct http_request *req, struct api_ctx *ctx)
{
	if (kore_task_finished(&ctx->work->task))
		return (1);
	http_request_sleep(req);

	return (0);
}

/* The thread's part of api_work_resolve(). */
static void
resolve_entry(struct api_work *w)
{
	struct crm_webhook_addrs addrs;
	struct crm_webhook_url u;
	struct crm_error err;
	const char *msg;

	crm_error_init(&err);
	w->verdict = -1;
	if (crm_webhook_url_parse(w->url, &u, &err) &&
	    crm_webhook_resolve(&u, &addrs, &err)) {
		w->verdict = addrs.worst;
		(void)kore_strlcpy(w->detail, addrs.worst_text,
		    sizeof(w->detail));
	} else {
		msg = json_string_value(
		    json_object_get(json_array_get(err.errors, 0), "message"));
		(void)kore_strlcpy(w->detail, msg != NULL ? msg : err.detail,
		    sizeof(w->detail));
	}
	crm_error_cleanup(&err);
}

/*
 * Start resolving webhook target `url` (already parsed once by the
 * caller) in a task thread: when api_work_done() says so,
 * ctx->work->verdict is the worst enum crm_addr_class of its addresses
 * (ctx->work->detail: that address), or -1 (detail: why). Returns what
 * the handler returns.
 */
int
api_work_resolve(struct http_request *req, struct api_ctx *ctx, const char *url)
{
	struct api_work *w;

	w = kore_calloc(1, sizeof(*w));
	w->resolve = 1;
	(void)kore_strlcpy(w->url, url, sizeof(w->url));
	ctx->work = w;

	kore_task_create(&w->task, work_entry);
	kore_task_bind_request(&w->task, req);
	kore_task_run(&w->task);
	w->started = 1;

	return (KORE_RESULT_RETRY);
}
