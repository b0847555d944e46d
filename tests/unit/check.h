/*
 * A minimal test harness for the unit tests of src/: CHECK records a
 * failure with its line and goes on; each test program prints a summary
 * and exits non-zero when anything failed (ctest reads the exit code).
 */
#ifndef CRM_TEST_CHECK_H
#define CRM_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed;
static int check_passed;

#define CHECK(cond) \
	do { \
		if (cond) { \
			check_passed++; \
		} else { \
			check_failed++; \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
			    __LINE__, #cond); \
		} \
	} while (0)

#define CHECK_STR(a, b) \
	do { \
		const char *check_a_ = (a), *check_b_ = (b); \
		if (check_a_ != NULL && check_b_ != NULL && \
		    strcmp(check_a_, check_b_) == 0) { \
			check_passed++; \
		} else { \
			check_failed++; \
			fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, \
			    __LINE__, check_a_ ? check_a_ : "(null)", \
			    check_b_ ? check_b_ : "(null)"); \
		} \
	} while (0)

#define CHECK_DONE() \
	do { \
		printf("%d passed, %d failed\n", check_passed, check_failed); \
		return (check_failed == 0 ? 0 : 1); \
	} while (0)

#endif
