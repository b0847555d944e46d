/*
 * Unit tests of src/ratelimit.c: the bucket's arithmetic (burst, refill,
 * Retry-After, RateLimit-Reset), credentials kept apart, slots taken over
 * once idle, the fail-open answer of a full table, the keyed fingerprint,
 * and threads racing on one bucket allowing exactly the limit.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "crm/error.h"
#include "crm/ratelimit.h"

#define SEC 1000000ULL
#define T0 (1000 * SEC) /* an arbitrary monotonic "now" */

static const unsigned char seed_a[CRM_RATELIMIT_SEED_LEN] = "0123456789abcde";
static const unsigned char seed_b[CRM_RATELIMIT_SEED_LEN] = "edcba987654321Z";

struct race {
	struct crm_ratelimit *rl;
	int allowed;
};

static void
test_burst_and_refill(struct crm_ratelimit *rl)
{
	struct crm_ratelimit_result r;
	int i;

	/* 5 a window of 2 s: one more every 400 ms. */
	for (i = 0; i < 5; i++) {
		crm_ratelimit_take(rl, "user:a", 5, 2, T0, &r);
		CHECK(r.allowed);
		CHECK(r.limit == 5);
		CHECK(r.remaining == 4 - i);
	}
	CHECK(r.reset == 2);

	crm_ratelimit_take(rl, "user:a", 5, 2, T0, &r);
	CHECK(!r.allowed);
	CHECK(r.remaining == 0);
	CHECK(r.retry_after == 1); /* 400 ms, rounded up */
	CHECK(r.reset == 2);

	/* Refused requests are not counted: still refused 399 ms later. */
	crm_ratelimit_take(rl, "user:a", 5, 2, T0 + 399000, &r);
	CHECK(!r.allowed);
	crm_ratelimit_take(rl, "user:a", 5, 2, T0 + 400000, &r);
	CHECK(r.allowed);
	CHECK(r.remaining == 0);
	crm_ratelimit_take(rl, "user:a", 5, 2, T0 + 400000, &r);
	CHECK(!r.allowed);

	/* A whole window later the whole limit is back. */
	crm_ratelimit_take(rl, "user:a", 5, 2, T0 + 3 * SEC, &r);
	CHECK(r.allowed);
	CHECK(r.remaining == 4);
	CHECK(r.reset == 1);
}

static void
test_credentials_apart(struct crm_ratelimit *rl)
{
	struct crm_ratelimit_result r;

	crm_ratelimit_take(rl, "key:x", 1, 60, T0, &r);
	CHECK(r.allowed);
	CHECK(r.remaining == 0);
	CHECK(r.reset == 60);
	crm_ratelimit_take(rl, "key:x", 1, 60, T0 + SEC, &r);
	CHECK(!r.allowed);
	CHECK(r.retry_after == 59);

	crm_ratelimit_take(rl, "key:y", 1, 60, T0 + SEC, &r);
	CHECK(r.allowed);
	crm_ratelimit_take(rl, "user:x", 1, 60, T0 + SEC, &r);
	CHECK(r.allowed);
}

/* 16 slots: every credential probes all of them. */
static void
test_full_table(void)
{
	struct crm_ratelimit_slot mem[CRM_RATELIMIT_PROBES + 3];
	struct crm_ratelimit_result r;
	struct crm_ratelimit rl;
	char name[32];
	int i;

	CHECK(crm_ratelimit_init(&rl, mem, sizeof(mem), seed_a) == CRM_OK);
	CHECK(rl.mask == CRM_RATELIMIT_PROBES - 1);
	CHECK(crm_ratelimit_init(&rl, mem, sizeof(mem[0]) * 4, seed_a) ==
	    CRM_ERROR);
	CHECK(crm_ratelimit_init(&rl, mem, sizeof(mem), seed_a) == CRM_OK);

	for (i = 0; i < CRM_RATELIMIT_PROBES; i++) {
		(void)snprintf(name, sizeof(name), "user:%d", i);
		crm_ratelimit_take(&rl, name, 1, 10, T0, &r);
		CHECK(r.allowed);
	}
	/* Every slot a live bucket: the newcomer is let through uncounted. */
	crm_ratelimit_take(&rl, "user:new", 1, 10, T0, &r);
	CHECK(r.allowed);
	crm_ratelimit_take(&rl, "user:new", 1, 10, T0, &r);
	CHECK(r.allowed);
	/* The others are still counted. */
	crm_ratelimit_take(&rl, "user:3", 1, 10, T0, &r);
	CHECK(!r.allowed);

	/* Once their buckets are full again, slots are taken over. */
	crm_ratelimit_take(&rl, "user:new", 1, 10, T0 + 11 * SEC, &r);
	CHECK(r.allowed);
	crm_ratelimit_take(&rl, "user:new", 1, 10, T0 + 11 * SEC, &r);
	CHECK(!r.allowed);
}

static void
test_fingerprints(struct crm_ratelimit *rl)
{
	struct crm_ratelimit_slot mem[CRM_RATELIMIT_PROBES];
	struct crm_ratelimit other;

	CHECK(crm_ratelimit_init(&other, mem, sizeof(mem), seed_b) == CRM_OK);
	CHECK(crm_ratelimit_fingerprint(rl, "user:a") ==
	    crm_ratelimit_fingerprint(rl, "user:a"));
	CHECK(crm_ratelimit_fingerprint(rl, "user:a") !=
	    crm_ratelimit_fingerprint(rl, "user:b"));
	CHECK(crm_ratelimit_fingerprint(rl, "user:a") !=
	    crm_ratelimit_fingerprint(&other, "user:a"));
	CHECK(crm_ratelimit_fingerprint(rl, "") != 0);
}

static void *
race_entry(void *arg)
{
	struct crm_ratelimit_result r;
	struct race *race = arg;
	int i;

	for (i = 0; i < 20000; i++) {
		crm_ratelimit_take(race->rl, "key:shared", 1000, 60, T0, &r);
		if (r.allowed)
			race->allowed++;
	}

	return (NULL);
}

static void
test_race(void)
{
	static struct crm_ratelimit_slot mem[1024];
	struct race races[4];
	pthread_t threads[4];
	struct crm_ratelimit rl;
	int i, total;

	CHECK(crm_ratelimit_init(&rl, mem, sizeof(mem), seed_a) == CRM_OK);
	for (i = 0; i < 4; i++) {
		races[i].rl = &rl;
		races[i].allowed = 0;
		CHECK(pthread_create(&threads[i], NULL, race_entry,
			  &races[i]) == 0);
	}
	total = 0;
	for (i = 0; i < 4; i++) {
		CHECK(pthread_join(threads[i], NULL) == 0);
		total += races[i].allowed;
	}
	CHECK(total == 1000);
}

int
main(void)
{
	static struct crm_ratelimit_slot mem[4096];
	struct crm_ratelimit rl;

	CHECK(crm_ratelimit_init(&rl, mem, sizeof(mem), seed_a) == CRM_OK);
	CHECK(rl.mask == 4095);
	CHECK(crm_ratelimit_init(&rl, mem, sizeof(mem) - 1, seed_a) == CRM_OK);
	CHECK(rl.mask == 2047);

	test_burst_and_refill(&rl);
	test_credentials_apart(&rl);
	test_full_table();
	test_fingerprints(&rl);
	test_race();

	CHECK_DONE();
}
