/*
 * The route table: every operation of the API, in the order it is matched,
 * with what an API key needs to call it (scope; NULL: public), the query
 * parameters and body fields it accepts. tests/api/test_openapi.py checks
 * that this table and openapi/openapi.yaml list the same operations.
 */
#include "api.h"

#define END \
	{ \
		NULL, 0, 0, 0, 0, NULL \
	}

static const char *const roles[] = {"admin", "executive", "sales_manager",
    "sales_rep", "marketing", "service", "integration", NULL};

/* What API keys may be granted: read or write per module. */
static const char *const scopes[] = {"customers:read", "customers:write",
    "contacts:read", "contacts:write", "leads:read", "leads:write",
    "opportunities:read", "opportunities:write", "activities:read",
    "activities:write", "tasks:read", "tasks:write", "products:read",
    "products:write", "quotes:read", "quotes:write", "contracts:read",
    "contracts:write", "orders:read", "orders:write", "users:read",
    "reports:read", NULL};

static const struct crm_field login_body[] = {
    {"email", CRM_T_TEXT, CRM_F_REQUIRED, 1, 254, NULL},
    {"password", CRM_T_PASSWORD, CRM_F_REQUIRED, 1, 1024, NULL},
    END,
};

static const struct crm_field refresh_body[] = {
    {"refresh_token", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    END,
};

static const struct crm_field no_params[] = {END};

static const struct crm_field users_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"role", CRM_T_ENUM, 0, 0, 0, roles},
    {"active", CRM_T_BOOL, 0, 0, 0, NULL},
    {"manager_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"q", CRM_T_TEXT, 0, 1, 100, NULL},
    END,
};

static const struct crm_field user_create[] = {
    {"email", CRM_T_EMAIL, CRM_F_REQUIRED, 0, 0, NULL},
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    {"role", CRM_T_ENUM, CRM_F_REQUIRED, 0, 0, roles},
    {"password", CRM_T_PASSWORD, CRM_F_REQUIRED, 10, 1024, NULL},
    {"manager_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    END,
};

static const struct crm_field user_update[] = {
    {"name", CRM_T_TEXT, 0, 1, 200, NULL},
    {"role", CRM_T_ENUM, 0, 0, 0, roles},
    {"password", CRM_T_PASSWORD, 0, 10, 1024, NULL},
    {"manager_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"active", CRM_T_BOOL, 0, 0, 0, NULL},
    END,
};

static const struct crm_field key_create[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 100, NULL},
    {"scopes", CRM_T_ENUM_ARRAY, CRM_F_REQUIRED, 0, 0, scopes},
    {"user_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"expires_at", CRM_T_TIME, CRM_F_NULLABLE, 0, 0, NULL},
    END,
};

static const struct crm_field audit_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"entity", CRM_T_TEXT, 0, 1, 64, NULL},
    {"entity_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"actor_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"action", CRM_T_TEXT, 0, 1, 64, NULL},
    {"since", CRM_T_TIME, 0, 0, 0, NULL},
    {"until", CRM_T_TIME, 0, 0, 0, NULL},
    END,
};

static const char *const kinds[] = {"company", "person", NULL};
static const char *const sizes[] = {"micro", "small", "medium", "large",
    "enterprise", NULL};
static const char *const grades[] = {"A", "B", "C", "D", NULL};
static const char *const stages[] = {"potential", "intent", "won", "repeat",
    "churned", "won_back", NULL};
static const char *const sorts[] = {"created_at", "-created_at", "updated_at",
    "-updated_at", "name", "-name", NULL};
static const char *const counts[] = {"none", "exact", "estimated", NULL};

/* A customer's writable fields; PATCH makes `name` optional. */
static const struct crm_field customer_body[] = {
    {"kind", CRM_T_ENUM, 0, 0, 0, kinds},
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    {"industry", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"size", CRM_T_ENUM, CRM_F_NULLABLE, 0, 0, sizes},
    {"region", CRM_T_TEXT, CRM_F_NULLABLE, 1, 50, NULL},
    {"province", CRM_T_TEXT, CRM_F_NULLABLE, 1, 50, NULL},
    {"city", CRM_T_TEXT, CRM_F_NULLABLE, 1, 50, NULL},
    {"address", CRM_T_TEXT, CRM_F_NULLABLE, 1, 500, NULL},
    {"phone", CRM_T_PHONE, CRM_F_NULLABLE, 0, 0, NULL},
    {"email", CRM_T_EMAIL, CRM_F_NULLABLE, 0, 0, NULL},
    {"website", CRM_T_URL, CRM_F_NULLABLE, 0, 500, NULL},
    {"source", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"grade", CRM_T_ENUM, CRM_F_NULLABLE, 0, 0, grades},
    {"is_key_customer", CRM_T_BOOL, 0, 0, 0, NULL},
    {"lifecycle_stage", CRM_T_ENUM, 0, 0, 0, stages},
    {"tags", CRM_T_TEXT_ARRAY, 0, 1, 50, NULL},
    {"parent_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"external_id", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"notes", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    {"custom", CRM_T_OBJECT, 0, 0, 0, NULL},
    END,
};

static const struct crm_field customers_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"sort", CRM_T_ENUM, 0, 0, 0, sorts},
    {"count", CRM_T_ENUM, 0, 0, 0, counts},
    {"q", CRM_T_TEXT, 0, 1, 100, NULL},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"grade", CRM_T_ENUM, 0, 0, 0, grades},
    {"lifecycle_stage", CRM_T_ENUM, 0, 0, 0, stages},
    {"tag", CRM_T_TEXT, 0, 1, 50, NULL},
    {"industry", CRM_T_TEXT, 0, 1, 100, NULL},
    {"region", CRM_T_TEXT, 0, 1, 50, NULL},
    {"province", CRM_T_TEXT, 0, 1, 50, NULL},
    {"city", CRM_T_TEXT, 0, 1, 50, NULL},
    {"is_key_customer", CRM_T_BOOL, 0, 0, 0, NULL},
    {"created_after", CRM_T_TIME, 0, 0, 0, NULL},
    {"created_before", CRM_T_TIME, 0, 0, 0, NULL},
    {"updated_after", CRM_T_TIME, 0, 0, 0, NULL},
    {"updated_before", CRM_T_TIME, 0, 0, 0, NULL},
    END,
};

static const char *const buying_roles[] = {"decision_maker", "influencer",
    "user", "gatekeeper", "other", NULL};

static const struct crm_field contact_body[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    {"title", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"phones", CRM_T_PHONE_ARRAY, 0, 0, 0, NULL},
    {"email", CRM_T_EMAIL, CRM_F_NULLABLE, 0, 0, NULL},
    {"birthday", CRM_T_DATE, CRM_F_NULLABLE, 0, 0, NULL},
    {"buying_role", CRM_T_ENUM, 0, 0, 0, buying_roles},
    {"notes", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    END,
};

static const struct crm_field contacts_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"buying_role", CRM_T_ENUM, 0, 0, 0, buying_roles},
    {"q", CRM_T_TEXT, 0, 1, 100, NULL},
    END,
};

static const struct crm_field graph_query[] = {
    {"depth", CRM_T_INT, 0, 1, 10, NULL},
    END,
};

static const struct crm_field merge_body[] = {
    {"survivor_id", CRM_T_UUID, CRM_F_REQUIRED, 0, 0, NULL},
    {"merged_ids", CRM_T_UUID_ARRAY, CRM_F_REQUIRED, 0, 50, NULL},
    END,
};

static const char *const relation_kinds[] = {"reports_to", "influences", NULL};

static const struct crm_field relation_body[] = {
    {"to_contact_id", CRM_T_UUID, CRM_F_REQUIRED, 0, 0, NULL},
    {"kind", CRM_T_ENUM, CRM_F_REQUIRED, 0, 0, relation_kinds},
    END,
};

static const struct crm_field search_body[] = {
    {"filter", CRM_T_OBJECT, 0, 0, 0, NULL},
    {"q", CRM_T_TEXT, 0, 1, 100, NULL},
    {"sort", CRM_T_ENUM, 0, 0, 0, sorts},
    {"count", CRM_T_ENUM, 0, 0, 0, counts},
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    END,
};

static const struct crm_field segment_body[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 100, NULL},
    {"filter", CRM_T_OBJECT, CRM_F_REQUIRED, 0, 0, NULL},
    END,
};

static const struct crm_field members_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"sort", CRM_T_ENUM, 0, 0, 0, sorts},
    {"count", CRM_T_ENUM, 0, 0, 0, counts},
    END,
};

static const char *const field_types[] = {"text", "number", "date", "bool",
    "enum", NULL};

static const struct crm_field custom_field_body[] = {
    {"key", CRM_T_TEXT, CRM_F_REQUIRED, 1, 40, NULL},
    {"label", CRM_T_TEXT, CRM_F_REQUIRED, 1, 100, NULL},
    {"type", CRM_T_ENUM, CRM_F_REQUIRED, 0, 0, field_types},
    {"required", CRM_T_BOOL, 0, 0, 0, NULL},
    {"options", CRM_T_TEXT_ARRAY, 0, 1, 100, NULL},
    END,
};

/* --- pipelines and opportunities (sql/0011) --- */

/* --- leads (sql/0012) --- */

static const char *const lead_statuses[] = {"new", "working", "mql", "sql",
    "converted", "disqualified", NULL};
static const char *const lead_qualified[] = {"mql", "sql", NULL};

/* A lead as created by hand or by an integration. */
static const struct crm_field lead_create[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    {"company", CRM_T_TEXT, CRM_F_NULLABLE, 1, 200, NULL},
    {"title", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"phone", CRM_T_PHONE, CRM_F_NULLABLE, 0, 0, NULL},
    {"email", CRM_T_EMAIL, CRM_F_NULLABLE, 0, 0, NULL},
    {"source", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"campaign_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"industry", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"region", CRM_T_TEXT, CRM_F_NULLABLE, 1, 50, NULL},
    {"province", CRM_T_TEXT, CRM_F_NULLABLE, 1, 50, NULL},
    {"city", CRM_T_TEXT, CRM_F_NULLABLE, 1, 50, NULL},
    {"notes", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"external_id", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    END,
};

/* PATCH: the same fields, and the status with its reason. */
static const struct crm_field lead_update[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    {"company", CRM_T_TEXT, CRM_F_NULLABLE, 1, 200, NULL},
    {"title", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"phone", CRM_T_PHONE, CRM_F_NULLABLE, 0, 0, NULL},
    {"email", CRM_T_EMAIL, CRM_F_NULLABLE, 0, 0, NULL},
    {"source", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"campaign_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"industry", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"region", CRM_T_TEXT, CRM_F_NULLABLE, 1, 50, NULL},
    {"province", CRM_T_TEXT, CRM_F_NULLABLE, 1, 50, NULL},
    {"city", CRM_T_TEXT, CRM_F_NULLABLE, 1, 50, NULL},
    {"notes", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"external_id", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"status", CRM_T_ENUM, 0, 0, 0, lead_statuses},
    {"disqualified_reason", CRM_T_TEXT, CRM_F_NULLABLE, 1, 500, NULL},
    END,
};

static const struct crm_field leads_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"status", CRM_T_ENUM, 0, 0, 0, lead_statuses},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"source", CRM_T_TEXT, 0, 1, 100, NULL},
    {"campaign_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"grade", CRM_T_ENUM, 0, 0, 0, grades},
    {"q", CRM_T_TEXT, 0, 1, 100, NULL},
    {"created_after", CRM_T_TIME, 0, 0, 0, NULL},
    {"created_before", CRM_T_TIME, 0, 0, 0, NULL},
    END,
};

static const struct crm_field lead_qualify_body[] = {
    {"to", CRM_T_ENUM, CRM_F_REQUIRED, 0, 0, lead_qualified},
    END,
};

static const struct crm_field lead_disqualify_body[] = {
    {"reason", CRM_T_TEXT, CRM_F_REQUIRED, 1, 500, NULL},
    END,
};

static const char *const lead_rule_kinds[] = {"field", "activity", NULL};
static const char *const lead_rule_fields[] = {"source", "industry", "region",
    "province", "city", "title", "company", "email_domain", NULL};
static const char *const lead_rule_ops[] = {"eq", "contains", "present", NULL};
static const char *const lead_activity_types[] = {"call", "email", "meeting",
    "visit", "note", NULL};

/* A scoring rule; the database checks that its parts fit its kind. */
static const struct crm_field lead_scoring_rule_body[] = {
    {"kind", CRM_T_ENUM, CRM_F_REQUIRED, 0, 0, lead_rule_kinds},
    {"field", CRM_T_ENUM, CRM_F_NULLABLE, 0, 0, lead_rule_fields},
    {"op", CRM_T_ENUM, CRM_F_NULLABLE, 0, 0, lead_rule_ops},
    {"value", CRM_T_TEXT, CRM_F_NULLABLE, 1, 200, NULL},
    {"activity_type", CRM_T_ENUM, CRM_F_NULLABLE, 0, 0, lead_activity_types},
    {"points", CRM_T_INT, CRM_F_REQUIRED, -100, 100, NULL},
    END,
};

static const struct crm_field lead_grading_body[] = {
    {"a", CRM_T_INT, CRM_F_REQUIRED, -100000, 100000, NULL},
    {"b", CRM_T_INT, CRM_F_REQUIRED, -100000, 100000, NULL},
    {"c", CRM_T_INT, CRM_F_REQUIRED, -100000, 100000, NULL},
    {"mql_score", CRM_T_INT, CRM_F_REQUIRED | CRM_F_NULLABLE, -100000, 100000,
	NULL},
    END,
};

static const struct crm_field lead_assign_body[] = {
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    END,
};

/* An assignment rule: conditions, then one user or a rotation. */
static const struct crm_field assignment_rule_body[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 100, NULL},
    {"position", CRM_T_INT, 0, 1, 100000, NULL},
    {"active", CRM_T_BOOL, 0, 0, 0, NULL},
    {"source", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"industry", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"region", CRM_T_TEXT, CRM_F_NULLABLE, 1, 50, NULL},
    {"province", CRM_T_TEXT, CRM_F_NULLABLE, 1, 50, NULL},
    {"city", CRM_T_TEXT, CRM_F_NULLABLE, 1, 50, NULL},
    {"campaign_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"user_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"round_robin_user_ids", CRM_T_UUID_ARRAY, CRM_F_NULLABLE, 0, 50, NULL},
    END,
};

static const struct crm_field lead_form_body[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 100, NULL},
    {"source", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"campaign_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"default_owner_id", CRM_T_UUID, CRM_F_REQUIRED, 0, 0, NULL},
    {"rate_limit_per_minute", CRM_T_INT, 0, 1, 600, NULL},
    END,
};

/* What a visitor sends through a public web form. */
static const struct crm_field lead_form_submit_body[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    {"company", CRM_T_TEXT, CRM_F_NULLABLE, 1, 200, NULL},
    {"title", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"phone", CRM_T_PHONE, CRM_F_NULLABLE, 0, 0, NULL},
    {"email", CRM_T_EMAIL, CRM_F_NULLABLE, 0, 0, NULL},
    {"message", CRM_T_TEXT, CRM_F_NULLABLE, 1, 5000, NULL},
    END,
};

static const struct crm_field lead_convert_body[] = {
    {"customer_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"contact_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"create_opportunity", CRM_T_BOOL, 0, 0, 0, NULL},
    {"opportunity", CRM_T_OBJECT, 0, 0, 0, NULL},
    END,
};

/* The conversion's `opportunity`, checked by its handler (api/leads.c). */
const struct crm_field api_lead_opportunity_fields[] = {
    {"name", CRM_T_TEXT, CRM_F_NULLABLE, 1, 200, NULL},
    {"amount", CRM_T_DECIMAL, CRM_F_NULLABLE, 2, 13, NULL},
    {"expected_close_date", CRM_T_DATE, CRM_F_NULLABLE, 0, 0, NULL},
    {"pipeline_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"stage_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    END,
};

/* The route table's methods are macros below; leads adds PUT. */
#define PUT HTTP_METHOD_PUT

/* --- activities and tasks (sql/0013) --- */

/* --- products, quotes and contracts (sql/0014) --- */

/* --- orders and subscriptions (sql/0015) --- */

/* Scope no API key can hold: the route needs a person's access token. */
#define PEOPLE_ONLY "admin:people-only"

#define GET HTTP_METHOD_GET
#define POST HTTP_METHOD_POST
#define PATCH HTTP_METHOD_PATCH
#define DELETE HTTP_METHOD_DELETE
#define JSON API_BODY_JSON
#define NONE API_BODY_NONE

const struct api_route api_routes[] = {
    {GET, "/healthz", "getHealth", NONE, NULL, NULL, NULL, api_health_live},
    {GET, "/readyz", "getReadiness", NONE, NULL, NULL, NULL, api_health_ready},
    {GET, "/v1/openapi.json", "getOpenApi", NONE, NULL, NULL, NULL,
	api_openapi_get},

    {POST, "/v1/auth/login", "login", JSON, NULL, no_params, login_body,
	api_auth_login},
    {POST, "/v1/auth/refresh", "refreshToken", JSON, NULL, no_params,
	refresh_body, api_auth_refresh},
    {POST, "/v1/auth/logout", "logout", JSON, NULL, no_params, refresh_body,
	api_auth_logout},

    {GET, "/v1/me", "getMe", NONE, "users:read", no_params, NULL, api_me_get},
    {GET, "/v1/users", "listUsers", NONE, "users:read", users_query, NULL,
	api_users_list},
    {POST, "/v1/users", "createUser", JSON, PEOPLE_ONLY, no_params, user_create,
	api_users_create},
    {GET, "/v1/users/{id}", "getUser", NONE, "users:read", no_params, NULL,
	api_users_get},
    {PATCH, "/v1/users/{id}", "updateUser", JSON, PEOPLE_ONLY, no_params,
	user_update, api_users_update},
    {DELETE, "/v1/users/{id}", "deactivateUser", NONE, PEOPLE_ONLY, no_params,
	NULL, api_users_deactivate},

    {GET, "/v1/api-keys", "listApiKeys", NONE, PEOPLE_ONLY, no_params, NULL,
	api_keys_list},
    {POST, "/v1/api-keys", "createApiKey", JSON, PEOPLE_ONLY, no_params,
	key_create, api_keys_create},
    {DELETE, "/v1/api-keys/{id}", "revokeApiKey", NONE, PEOPLE_ONLY, no_params,
	NULL, api_keys_revoke},

    {GET, "/v1/audit", "listAudit", NONE, PEOPLE_ONLY, audit_query, NULL,
	api_audit_list},

    {POST, "/v1/customers/search", "searchCustomers", JSON, "customers:read",
	no_params, search_body, api_customers_search},
    {POST, "/v1/customers/merge", "mergeCustomers", JSON, "customers:write",
	no_params, merge_body, api_customers_merge},
    {GET, "/v1/customers", "listCustomers", NONE, "customers:read",
	customers_query, NULL, api_customers_list},
    {POST, "/v1/customers", "createCustomer", JSON, "customers:write",
	no_params, customer_body, api_customers_create},
    {GET, "/v1/customers/{id}", "getCustomer", NONE, "customers:read",
	no_params, NULL, api_customers_get},
    {PATCH, "/v1/customers/{id}", "updateCustomer", JSON, "customers:write",
	no_params, customer_body, api_customers_update},
    {DELETE, "/v1/customers/{id}", "deleteCustomer", NONE, "customers:write",
	no_params, NULL, api_customers_delete},
    {POST, "/v1/customers/{id}/restore", "restoreCustomer", NONE,
	"customers:write", no_params, NULL, api_customers_restore},
    {GET, "/v1/customers/{id}/lifecycle", "getCustomerLifecycle", NONE,
	"customers:read", no_params, NULL, api_customers_lifecycle},
    {GET, "/v1/customers/{id}/overview", "getCustomerOverview", NONE,
	"customers:read", no_params, NULL, api_customers_overview},
    {GET, "/v1/customers/{id}/graph", "getCustomerGraph", NONE,
	"customers:read", graph_query, NULL, api_customers_graph},
    {GET, "/v1/customers/{id}/duplicates", "listCustomerDuplicates", NONE,
	"customers:read", no_params, NULL, api_customers_duplicates},
    {GET, "/v1/customers/{id}/contacts", "listCustomerContacts", NONE,
	"contacts:read", contacts_query, NULL, api_contacts_of_customer},
    {POST, "/v1/customers/{id}/contacts", "createContact", JSON,
	"contacts:write", no_params, contact_body, api_contacts_create},

    {GET, "/v1/segments", "listSegments", NONE, "customers:read", no_params,
	NULL, api_segments_list},
    {POST, "/v1/segments", "createSegment", JSON, PEOPLE_ONLY, no_params,
	segment_body, api_segments_create},
    {GET, "/v1/segments/{id}", "getSegment", NONE, "customers:read", no_params,
	NULL, api_segments_get},
    {DELETE, "/v1/segments/{id}", "deleteSegment", NONE, PEOPLE_ONLY, no_params,
	NULL, api_segments_delete},
    {GET, "/v1/segments/{id}/members", "listSegmentMembers", NONE,
	"customers:read", members_query, NULL, api_segments_members},

    {GET, "/v1/custom-fields", "listCustomFields", NONE, "customers:read",
	no_params, NULL, api_custom_fields_list},
    {POST, "/v1/custom-fields", "createCustomField", JSON, PEOPLE_ONLY,
	no_params, custom_field_body, api_custom_fields_create},
    {DELETE, "/v1/custom-fields/{id}", "deleteCustomField", NONE, PEOPLE_ONLY,
	no_params, NULL, api_custom_fields_delete},

    {GET, "/v1/contacts", "listContacts", NONE, "contacts:read", contacts_query,
	NULL, api_contacts_list},
    {GET, "/v1/contacts/{id}", "getContact", NONE, "contacts:read", no_params,
	NULL, api_contacts_get},
    {PATCH, "/v1/contacts/{id}", "updateContact", JSON, "contacts:write",
	no_params, contact_body, api_contacts_update},
    {DELETE, "/v1/contacts/{id}", "deleteContact", NONE, "contacts:write",
	no_params, NULL, api_contacts_delete},
    {GET, "/v1/contacts/{id}/relations", "listContactRelations", NONE,
	"contacts:read", no_params, NULL, api_contact_relations_list},
    {POST, "/v1/contacts/{id}/relations", "createContactRelation", JSON,
	"contacts:write", no_params, relation_body,
	api_contact_relations_create},
    {DELETE, "/v1/contacts/{id}/relations/{relation_id}",
	"deleteContactRelation", NONE, "contacts:write", no_params, NULL,
	api_contact_relations_delete},

    /* --- pipelines and opportunities --- */

    /* --- leads --- */
    {GET, "/v1/leads", "listLeads", NONE, "leads:read", leads_query, NULL,
	api_leads_list},
    {POST, "/v1/leads", "createLead", JSON, "leads:write", no_params,
	lead_create, api_leads_create},
    {GET, "/v1/leads/{id}", "getLead", NONE, "leads:read", no_params, NULL,
	api_leads_get},
    {PATCH, "/v1/leads/{id}", "updateLead", JSON, "leads:write", no_params,
	lead_update, api_leads_update},
    {DELETE, "/v1/leads/{id}", "deleteLead", NONE, "leads:write", no_params,
	NULL, api_leads_delete},
    {GET, "/v1/leads/{id}/history", "getLeadHistory", NONE, "leads:read",
	no_params, NULL, api_leads_history},
    {POST, "/v1/leads/{id}/qualify", "qualifyLead", JSON, "leads:write",
	no_params, lead_qualify_body, api_leads_qualify},
    {POST, "/v1/leads/{id}/disqualify", "disqualifyLead", JSON, "leads:write",
	no_params, lead_disqualify_body, api_leads_disqualify},
    {GET, "/v1/lead-scoring-rules", "listLeadScoringRules", NONE, PEOPLE_ONLY,
	no_params, NULL, api_lead_scoring_rules_list},
    {POST, "/v1/lead-scoring-rules", "createLeadScoringRule", JSON, PEOPLE_ONLY,
	no_params, lead_scoring_rule_body, api_lead_scoring_rules_create},
    {PATCH, "/v1/lead-scoring-rules/{id}", "updateLeadScoringRule", JSON,
	PEOPLE_ONLY, no_params, lead_scoring_rule_body,
	api_lead_scoring_rules_update},
    {DELETE, "/v1/lead-scoring-rules/{id}", "deleteLeadScoringRule", NONE,
	PEOPLE_ONLY, no_params, NULL, api_lead_scoring_rules_delete},
    {GET, "/v1/lead-grading", "getLeadGrading", NONE, PEOPLE_ONLY, no_params,
	NULL, api_lead_grading_get},
    {PUT, "/v1/lead-grading", "setLeadGrading", JSON, PEOPLE_ONLY, no_params,
	lead_grading_body, api_lead_grading_put},
    {POST, "/v1/leads/{id}/assign", "assignLead", JSON, "leads:write",
	no_params, lead_assign_body, api_leads_assign},
    {POST, "/v1/leads/{id}/convert", "convertLead", JSON, "leads:write",
	no_params, lead_convert_body, api_leads_convert},
    {GET, "/v1/assignment-rules", "listAssignmentRules", NONE, PEOPLE_ONLY,
	no_params, NULL, api_assignment_rules_list},
    {POST, "/v1/assignment-rules", "createAssignmentRule", JSON, PEOPLE_ONLY,
	no_params, assignment_rule_body, api_assignment_rules_create},
    {PATCH, "/v1/assignment-rules/{id}", "updateAssignmentRule", JSON,
	PEOPLE_ONLY, no_params, assignment_rule_body,
	api_assignment_rules_update},
    {DELETE, "/v1/assignment-rules/{id}", "deleteAssignmentRule", NONE,
	PEOPLE_ONLY, no_params, NULL, api_assignment_rules_delete},
    {GET, "/v1/lead-forms", "listLeadForms", NONE, PEOPLE_ONLY, no_params, NULL,
	api_lead_forms_list},
    {POST, "/v1/lead-forms", "createLeadForm", JSON, PEOPLE_ONLY, no_params,
	lead_form_body, api_lead_forms_create},
    {DELETE, "/v1/lead-forms/{id}", "revokeLeadForm", NONE, PEOPLE_ONLY,
	no_params, NULL, api_lead_forms_revoke},
    /* Public: the form key in the path is the only credential. */
    {POST, "/v1/forms/{form_key}/leads", "submitLeadForm", JSON, NULL,
	no_params, lead_form_submit_body, api_lead_forms_submit},

    /* --- activities and tasks --- */

    /* --- products, quotes and contracts --- */

    /* --- orders and subscriptions --- */
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
