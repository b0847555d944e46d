/*
 * Rate limits per credential without a database write: GCRA over a table
 * of slots that may live in memory shared by several processes.
 *
 * A credential of `limit` requests per `window` has an emission interval
 * I = window / limit and a theoretical arrival time (TAT) in its slot. A
 * request at `now` is allowed when max(TAT, now) + I <= now + window, and
 * then moves the TAT there; so a full bucket takes `limit` requests at
 * once and refills one request every I. A TAT in the past is a full
 * bucket: a free slot (TAT 0) and a forgotten credential are the same
 * thing, which is what lets a slot whose TAT has passed be taken over by
 * another credential without losing anything.
 *
 * Every change is one compare-and-swap on a 64-bit word, so processes
 * share the table without locks (a worker that dies mid-update leaves
 * nothing held). The one approximation: a credential whose idle slot is
 * taken over at the instant it sends a request may charge that request
 * to the newcomer's bucket. Fingerprints are keyed with a random seed, so
 * nobody can craft a credential that shares another's bucket.
 */
#include <string.h>

#include <openssl/evp.h>

#include "crm/error.h"
#include "crm/ratelimit.h"

static struct crm_ratelimit_slot *
slot_find(struct crm_ratelimit *, uint64_t, uint64_t);
static long ceil_seconds(uint64_t);

/*
 * Set `rl` up over `size` bytes of zeroed or reusable memory at `mem`
 * (borrowed; it must outlive `rl`), with the fingerprint key `seed`
 * (CRM_RATELIMIT_SEED_LEN bytes). The table takes the largest power of
 * two of slots that fits. Returns CRM_ERROR when fewer than
 * CRM_RATELIMIT_PROBES fit.
 */
int
crm_ratelimit_init(struct crm_ratelimit *rl, void *mem, size_t size,
    const unsigned char *seed)
{
	size_t n;

	n = CRM_RATELIMIT_PROBES;
	if (mem == NULL || size / sizeof(struct crm_ratelimit_slot) < n)
		return (CRM_ERROR);
	while (n * 2 <= size / sizeof(struct crm_ratelimit_slot))
		n *= 2;

	memset(mem, 0, n * sizeof(struct crm_ratelimit_slot));
	rl->slots = mem;
	rl->mask = n - 1;
	memcpy(rl->seed, seed, CRM_RATELIMIT_SEED_LEN);

	return (CRM_OK);
}

/*
 * The fingerprint of `credential` under the table's seed: the first 64
 * bits of SHA-256(seed || credential), never 0 (0 marks a free slot).
 */
uint64_t
crm_ratelimit_fingerprint(const struct crm_ratelimit *rl,
    const char *credential)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	EVP_MD_CTX *c;
	uint64_t fp;
	int ok;

	fp = 0;
	if ((c = EVP_MD_CTX_new()) == NULL)
		return (1);
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(c, rl->seed, sizeof(rl->seed)) == 1 &&
	    EVP_DigestUpdate(c, credential, strlen(credential)) == 1 &&
	    EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen >= sizeof(fp);
	EVP_MD_CTX_free(c);
	if (ok)
		memcpy(&fp, md, sizeof(fp));

	return (fp != 0 ? fp : 1);
}

/*
 * Count one request of `credential` against `limit` requests per
 * `window` seconds at `now` (microseconds of a clock shared by every
 * process using the table) and say in `out` whether it is allowed, with
 * what the RateLimit headers report. A credential that finds no slot (the
 * table is full of live buckets) is allowed uncounted: the limit fails
 * open rather than refusing everyone.
 */
void
crm_ratelimit_take(struct crm_ratelimit *rl, const char *credential, long limit,
    long window, uint64_t now, struct crm_ratelimit_result *out)
{
	struct crm_ratelimit_slot *s;
	uint64_t t, interval, tat, base, next;

	t = (uint64_t)window * 1000000;
	interval = t / (uint64_t)limit;
	if (interval == 0)
		interval = 1;

	memset(out, 0, sizeof(*out));
	out->limit = limit;

	s = slot_find(rl, crm_ratelimit_fingerprint(rl, credential), now);
	if (s == NULL) {
		out->allowed = 1;
		out->remaining = limit - 1;
		out->reset = ceil_seconds(interval);
		return;
	}

	tat = __atomic_load_n(&s->tat, __ATOMIC_ACQUIRE);
	for (;;) {
		base = tat > now ? tat : now;
		next = base + interval;
		if (next - now > t) {
			out->retry_after = ceil_seconds(next - t - now);
			out->reset = ceil_seconds(base - now);
			return;
		}
		/* On failure `tat` is reloaded with the winner's value. */
		if (__atomic_compare_exchange_n(&s->tat, &tat, next, 0,
			__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			break;
	}

	out->allowed = 1;
	out->remaining = (long)((t - (next - now)) / interval);
	if (out->remaining >= limit)
		out->remaining = limit - 1;
	out->reset = ceil_seconds(next - now);
}

/*
 * The slot of fingerprint `fp`: its own among the CRM_RATELIMIT_PROBES
 * slots from its home, else the first free one, else the first whose
 * bucket is full again at `now` (taken over); NULL when every one is a
 * live bucket of another credential. Two processes claiming the same
 * slot race on a compare-and-swap; the loser looks again.
 */
static struct crm_ratelimit_slot *
slot_find(struct crm_ratelimit *rl, uint64_t fp, uint64_t now)
{
	struct crm_ratelimit_slot *s, *idle;
	uint64_t f, idle_fp;
	size_t n;
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		idle = NULL;
		idle_fp = 0;
		for (n = 0; n < CRM_RATELIMIT_PROBES; n++) {
			s = &rl->slots[(fp + n) & rl->mask];
			f = __atomic_load_n(&s->fp, __ATOMIC_ACQUIRE);
			if (f == fp)
				return (s);
			if (f == 0) {
				if (__atomic_compare_exchange_n(&s->fp, &f, fp,
					0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
					return (s);
				if (f == fp)
					return (s);
				continue;
			}
			if (idle == NULL &&
			    __atomic_load_n(&s->tat, __ATOMIC_ACQUIRE) <= now) {
				idle = s;
				idle_fp = f;
			}
		}
		if (idle != NULL &&
		    __atomic_compare_exchange_n(&idle->fp, &idle_fp, fp, 0,
			__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return (idle);
	}

	return (NULL);
}

/* Microseconds as whole seconds, rounded up: at least 1 for any wait. */
static long
ceil_seconds(uint64_t us)
{
	return ((long)((us + 999999) / 1000000));
}
