/* Request ids and time formatting. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "crm/util.h"

/*
 * Write a new random request id (CRM_REQUEST_ID_LEN hex characters and a
 * NUL) into `out` of `size` bytes. Returns 0 when randomness or space ran
 * out.
 */
int
crm_request_id_new(char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[CRM_REQUEST_ID_LEN / 2];
	size_t i;

	if (size < CRM_REQUEST_ID_LEN + 1)
		return (0);
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return (0);

	for (i = 0; i < sizeof(raw); i++) {
		out[i * 2] = hex[raw[i] >> 4];
		out[i * 2 + 1] = hex[raw[i] & 0x0f];
	}
	out[CRM_REQUEST_ID_LEN] = '\0';

	return (1);
}

/*
 * Return 1 when `id`, received from the proxy in front or a client, is
 * safe to echo and log: 1 to CRM_REQUEST_ID_MAX of [A-Za-z0-9._-].
 */
int
crm_request_id_valid(const char *id)
{
	size_t i;
	char c;

	if (id == NULL)
		return (0);

	for (i = 0; id[i] != '\0'; i++) {
		if (i >= CRM_REQUEST_ID_MAX)
			return (0);
		c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '_' ||
			c == '.'))
			return (0);
	}

	return (i > 0);
}

/* Format `ms` since the epoch as RFC 3339 UTC with milliseconds. */
void
crm_rfc3339_ms(long long ms, char *out, size_t size)
{
	struct tm tm;
	time_t secs;
	char base[32];

	secs = (time_t)(ms / 1000);
	gmtime_r(&secs, &tm);
	(void)strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	(void)snprintf(out, size, "%s.%03lldZ", base, ms % 1000);
}
