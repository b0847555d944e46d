/*
 * crm-admin: the command-line tool for what no HTTP route may do.
 *
 *   crm-admin create-org --name NAME --admin-email EMAIL --admin-name NAME
 *
 * creates an organisation with its first admin, whose password is read
 * from standard input (one line) or CRM_ADMIN_PASSWORD, and prints the
 * new ids as JSON. It connects with CRM_ADMIN_DATABASE_URL: a role that
 * may write organisations (the schema owner, crm_owner), never the
 * server's crm_app.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "crm/auth.h"
#include "crm/validate.h"

static const char SQL_CREATE_ORG[] =
    "WITH org AS (INSERT INTO organizations (name) VALUES ($1) "
    "RETURNING id), "
    "admin AS (INSERT INTO users (org_id, email, name, role, password_hash) "
    "SELECT id, $2, $3, 'admin', $4 FROM org RETURNING id, org_id) "
    "SELECT json_build_object('organization_id', org_id, 'admin_id', id) "
    "FROM admin";

static void
usage(void)
{
	fprintf(stderr,
	    "usage: crm-admin create-org --name NAME --admin-email EMAIL "
	    "--admin-name NAME\n"
	    "  the password comes from CRM_ADMIN_PASSWORD or one line of "
	    "stdin;\n"
	    "  the database from CRM_ADMIN_DATABASE_URL (the schema owner)\n");
	exit(2);
}

/* Read the password: the environment, else the first line of stdin. */
static int
read_password(char *out, size_t size)
{
	const char *env;
	size_t len;

	if ((env = getenv("CRM_ADMIN_PASSWORD")) != NULL) {
		if (strlen(env) >= size)
			return (0);
		memcpy(out, env, strlen(env) + 1);
	} else if (fgets(out, (int)size, stdin) == NULL) {
		return (0);
	}
	len = strcspn(out, "\r\n");
	out[len] = '\0';

	return (len >= 10);
}

static int
create_org(const char *name, const char *email, const char *admin_name)
{
	struct crm_error err;
	const char *params[4], *url;
	char password[CRM_PASSWORD_MAX_LEN + 2], hash[256];
	PGconn *conn;
	PGresult *res;
	int status;

	status = 1;
	conn = NULL;
	res = NULL;
	crm_error_init(&err);

	if (strlen(name) == 0 || strlen(name) > 200 ||
	    strchr(email, '@') == NULL || strlen(admin_name) == 0 ||
	    strlen(admin_name) > 200) {
		fprintf(stderr, "crm-admin: invalid name or email\n");
		goto cleanup;
	}
	if (!read_password(password, sizeof(password))) {
		fprintf(stderr,
		    "crm-admin: the password must be 10 to %d "
		    "characters\n",
		    CRM_PASSWORD_MAX_LEN);
		goto cleanup;
	}
	if (!crm_password_hash(password, hash, sizeof(hash), &err)) {
		fprintf(stderr, "crm-admin: %s\n", err.detail);
		goto cleanup;
	}

	if ((url = getenv("CRM_ADMIN_DATABASE_URL")) == NULL)
		url = "host=127.0.0.1 port=5433 dbname=crm user=crm_owner";
	conn = PQconnectdb(url);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "crm-admin: %s", PQerrorMessage(conn));
		goto cleanup;
	}

	params[0] = name;
	params[1] = email;
	params[2] = admin_name;
	params[3] = hash;
	res =
	    PQexecParams(conn, SQL_CREATE_ORG, 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fprintf(stderr, "crm-admin: %s", PQresultErrorMessage(res));
		goto cleanup;
	}
	printf("%s\n", PQgetvalue(res, 0, 0));
	status = 0;

cleanup:
	explicit_bzero(password, sizeof(password));
	PQclear(res);
	PQfinish(conn);
	crm_error_cleanup(&err);
	return (status);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"admin-email", required_argument, NULL, 'e'},
	    {"admin-name", required_argument, NULL, 'a'},
	    {NULL, 0, NULL, 0},
	};
	const char *name, *email, *admin_name;
	int ch;

	if (argc < 2 || strcmp(argv[1], "create-org") != 0)
		usage();
	argc--;
	argv++;

	name = email = admin_name = NULL;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			name = optarg;
			break;
		case 'e':
			email = optarg;
			break;
		case 'a':
			admin_name = optarg;
			break;
		default:
			usage();
		}
	}
	if (name == NULL || email == NULL || admin_name == NULL)
		usage();

	return (create_org(name, email, admin_name));
}
