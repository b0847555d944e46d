/*
 * Password hashing and verification (scrypt, ~50 ms of CPU each) run in
 * Kore's task threads so the event loop keeps serving other requests.
 * The handler starts the work, returns KORE_RESULT_RETRY, and is woken
 * when the thread is done; the thread touches only ctx->work.
 */
#include <string.h>

#include "api.h"
#include "crm/auth.h"

static int
work_entry(struct kore_task *t)
{
	struct api_work *w = (struct api_work *)t;
	struct crm_error err;

	if (w->verify) {
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
