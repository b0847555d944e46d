/*
 * Request rate limits per credential, counted in memory (no database
 * write per request): a generic cell rate algorithm (GCRA, a token bucket
 * kept as one timestamp per credential) over a fixed table of slots that
 * the caller provides, which may be shared memory: every operation is a
 * lock-free compare-and-swap, so all of Kore's worker processes can count
 * in one table and a limit holds across them.
 */
#ifndef CRM_RATELIMIT_H
#define CRM_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define CRM_RATELIMIT_SEED_LEN 16
#define CRM_RATELIMIT_PROBES 16 /* slots looked at per credential */

/* One credential's bucket: its fingerprint and theoretical arrival time. */
struct crm_ratelimit_slot {
	uint64_t fp; /* 0: free */
	uint64_t tat; /* microseconds, CLOCK_MONOTONIC */
};

struct crm_ratelimit {
	struct crm_ratelimit_slot *slots; /* borrowed: the caller's memory */
	size_t mask; /* slot count - 1 (a power of two) */
	unsigned char seed[CRM_RATELIMIT_SEED_LEN];
};

/* The answer for one request. */
struct crm_ratelimit_result {
	int allowed;
	long limit; /* requests per window */
	long remaining; /* requests left at once after this one */
	long reset; /* seconds until the whole limit is available again */
	long retry_after; /* refused: seconds until one request is allowed */
};

int crm_ratelimit_init(struct crm_ratelimit *, void *, size_t,
    const unsigned char *);
uint64_t crm_ratelimit_fingerprint(const struct crm_ratelimit *, const char *);
void crm_ratelimit_take(struct crm_ratelimit *, const char *, long, long,
    uint64_t, struct crm_ratelimit_result *);

#endif
