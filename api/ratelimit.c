/*
 * Rate limits of authenticated requests: CRM_RATE_LIMIT_KEY requests per
 * CRM_RATE_LIMIT_WINDOW seconds for each API key, CRM_RATE_LIMIT_USER for
 * each person's access token (its verified subject), counted in memory
 * (src/ratelimit.c), never in the database.
 *
 * The table is mapped shared by the parent before it forks the workers,
 * so every worker (and a restarted one) counts in the same buckets: the
 * limit holds for the whole server however requests spread over workers.
 * Several API servers behind a load balancer each count their own, so
 * there the limit is per server (documented in the README).
 *
 * Every authenticated response carries the RateLimit header fields of
 * draft-ietf-httpapi-ratelimit-headers-06 (RateLimit-Limit, -Remaining,
 * -Reset, -Policy); a request over the limit is answered 429 with
 * Retry-After before anything else runs.
 */
#include <sys/mman.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "api.h"
#include "crm/ratelimit.h"

#define RATELIMIT_SLOTS 65536 /* 1 MiB: far more than live credentials */

static struct crm_ratelimit limits;
static int limits_ready;

/*
 * In the parent, before the workers exist: map the shared table and draw
 * the fingerprint seed. Dies when either fails (the server must not run
 * without its limits).
 */
void
api_ratelimit_init(void)
{
	unsigned char seed[CRM_RATELIMIT_SEED_LEN];
	size_t size;
	void *mem;

	size = RATELIMIT_SLOTS * sizeof(struct crm_ratelimit_slot);
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fatal("crm: cannot map the rate-limit table: %s", errno_s);
	if (RAND_bytes(seed, sizeof(seed)) != 1)
		fatal("crm: no randomness for the rate-limit table");
	if (!crm_ratelimit_init(&limits, mem, size, seed))
		fatal("crm: the rate-limit table does not fit");
	explicit_bzero(seed, sizeof(seed));
	limits_ready = 1;
}

/*
 * Count the authenticated request against its credential's limit and
 * set the RateLimit headers. Returns 1 when it may go on; answers 429
 * (with Retry-After) itself and returns 0 when the limit is used up.
 */
int
api_ratelimit_check(struct http_request *req, struct api_ctx *ctx)
{
	struct crm_ratelimit_result r;
	struct crm_error err;
	struct timespec ts;
	const char *who;
	char buf[64];
	long limit;
	int key;

	key = strncmp(ctx->credential, "key:", 4) == 0;
	limit = key ? api_config.rate_limit_key : api_config.rate_limit_user;
	if (limit == 0 || !limits_ready || ctx->credential[0] == '\0')
		return (1);

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	crm_ratelimit_take(&limits, ctx->credential, limit,
	    api_config.rate_limit_window,
	    (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000, &r);

	(void)snprintf(buf, sizeof(buf), "%ld", r.limit);
	http_response_header(req, "ratelimit-limit", buf);
	(void)snprintf(buf, sizeof(buf), "%ld", r.remaining);
	http_response_header(req, "ratelimit-remaining", buf);
	(void)snprintf(buf, sizeof(buf), "%ld", r.reset);
	http_response_header(req, "ratelimit-reset", buf);
	(void)snprintf(buf, sizeof(buf), "%ld;w=%ld", r.limit,
	    api_config.rate_limit_window);
	http_response_header(req, "ratelimit-policy", buf);
	if (r.allowed)
		return (1);

	who = key ? "this API key" : "this user";
	crm_error_init(&err);
	crm_error_set(&err, CRM_ERR_RATE_LIMITED,
	    "The rate limit of %s (%ld requests per %ld s) is used up; "
	    "retry after %ld s.",
	    who, r.limit, api_config.rate_limit_window, r.retry_after);
	err.retry_after = (int)r.retry_after;
	api_respond_problem(req, ctx, &err);
	crm_error_cleanup(&err);

	return (0);
}
