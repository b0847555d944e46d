/*
 * Authentication core without Kore: HS256 access tokens (signed by
 * libjwt; verified by libjwt for the signature and here for everything
 * else), scrypt password hashes (OpenSSL 3), random opaque tokens and
 * SHA-256 digests. Every function is safe to call from Kore task threads.
 */
#ifndef CRM_AUTH_H
#define CRM_AUTH_H

#include <stddef.h>

#include "crm/error.h"

#define CRM_JWT_MAX_LEN 4096 /* longer tokens are refused before parsing */
#define CRM_JWT_SECRET_MIN_LEN 32 /* bytes of HS256 key, at least */
#define CRM_JWT_MAX_LIFETIME 86400 /* exp - iat, seconds, at most */
#define CRM_JWT_LEEWAY_MAX 300 /* largest clock skew a config may allow */
#define CRM_JWT_TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

#define CRM_PASSWORD_MAX_LEN 1024
#define CRM_PASSWORD_HASH_MAX 128 /* enough for crm_password_hash() */

/* What crm_password_hash() writes: N, r, p, salt and key length. */
#define CRM_SCRYPT_N 16384
#define CRM_SCRYPT_R 8
#define CRM_SCRYPT_P 1
#define CRM_SCRYPT_SALT_LEN 16
#define CRM_SCRYPT_KEY_LEN 32

/*
 * What crm_password_verify() accepts in a stored encoding: N a power of
 * two in [N_MIN, N_MAX], 1 <= r <= R_MAX, 1 <= p <= P_MAX, a salt of
 * SALT_MIN..SALT_MAX bytes, a key of KEY_LEN bytes; and on top memory
 * 128*N*r <= MEM_MAX and work N*r*p <= WORK_MAX (8x the default), so a
 * tampered row costs at most about eight default verifications.
 */
#define CRM_SCRYPT_N_MIN 1024
#define CRM_SCRYPT_N_MAX 1048576
#define CRM_SCRYPT_R_MAX 32
#define CRM_SCRYPT_P_MAX 16
#define CRM_SCRYPT_SALT_MIN 16
#define CRM_SCRYPT_SALT_MAX 64
#define CRM_SCRYPT_MEM_MAX (64ULL * 1024 * 1024)
#define CRM_SCRYPT_WORK_MAX (1ULL << 20)

#define CRM_TOKEN_RANDOM_LEN 43 /* base64url chars of 32 random bytes */

struct crm_claims {
	char sub[64]; /* user id (a UUID string) */
	char org[64]; /* organisation id (UUID) */
	char role[32]; /* one of the roles crm_role_valid() accepts */
	char jti[64]; /* random token id (base64url) */
	long long iat, nbf, exp; /* nbf is 0 when a verified token had none */
};

struct crm_jwt_config {
	const char *secret; /* HS256 key, >= 32 bytes, NUL-terminated */
	const char *issuer; /* e.g. "crm-api" */
	const char *audience; /* e.g. "crm-api" */
	int ttl; /* access token lifetime, 1..CRM_JWT_MAX_LIFETIME s */
	int leeway; /* allowed clock skew, 0..CRM_JWT_LEEWAY_MAX s */
};

int crm_jwt_sign(const struct crm_jwt_config *, struct crm_claims *, long long,
    char **, struct crm_error *) CRM_MUSTCHECK;
int crm_jwt_verify(const struct crm_jwt_config *, const char *, long long,
    struct crm_claims *, struct crm_error *) CRM_MUSTCHECK;
int crm_role_valid(const char *);

int crm_password_hash(const char *, char *, size_t,
    struct crm_error *) CRM_MUSTCHECK;
int crm_password_verify(const char *, const char *);
void crm_password_dummy_verify(const char *);

int crm_token_random(char *, size_t, const char *) CRM_MUSTCHECK;
void crm_sha256_hex(const void *, size_t, char[65]);
int crm_hmac_sha256_hex(const char *, const char *const *, const size_t *,
    size_t, char[65]) CRM_MUSTCHECK;

#endif
