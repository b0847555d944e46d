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
    "reports:read", "reports:write", "events:read", NULL};

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

/* The forecast and quotas (sql/0020). */
static const char *const forecast_groups[] = {"owner", "team", "region",
    "stage", "month", NULL};
static const char *const quota_kinds[] = {"user", "team", NULL};

static const struct crm_field forecast_query[] = {
    {"period", CRM_T_TEXT, 0, 4, 7, NULL},
    {"group_by", CRM_T_ENUM, 0, 0, 0, forecast_groups},
    {"pipeline_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"as_of", CRM_T_DATE, 0, 0, 0, NULL},
    END,
};

static const struct crm_field trend_query[] = {
    {"period", CRM_T_TEXT, 0, 4, 7, NULL},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"from", CRM_T_DATE, 0, 0, 0, NULL},
    {"to", CRM_T_DATE, 0, 0, 0, NULL},
    END,
};

static const struct crm_field slippage_query[] = {
    {"period", CRM_T_TEXT, 0, 4, 7, NULL},
    {"since", CRM_T_DATE, 0, 0, 0, NULL},
    END,
};

static const struct crm_field quotas_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"period", CRM_T_TEXT, 0, 4, 7, NULL},
    {"user_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"kind", CRM_T_ENUM, 0, 0, 0, quota_kinds},
    END,
};

static const struct crm_field quota_create[] = {
    {"user_id", CRM_T_UUID, CRM_F_REQUIRED, 0, 0, NULL},
    {"kind", CRM_T_ENUM, 0, 0, 0, quota_kinds},
    {"period", CRM_T_TEXT, CRM_F_REQUIRED, 4, 7, NULL},
    {"amount", CRM_T_DECIMAL, CRM_F_REQUIRED, 2, 13, NULL},
    {"currency", CRM_T_TEXT, 0, 3, 3, NULL},
    END,
};

static const struct crm_field quota_update[] = {
    {"amount", CRM_T_DECIMAL, 0, 2, 13, NULL},
    {"currency", CRM_T_TEXT, 0, 3, 3, NULL},
    END,
};

/* Analytics and the dashboard (sql/0021). */
static const char *const perf_groups[] = {"owner", "team", "region", "month",
    NULL};

static const struct crm_field perf_query[] = {
    {"period", CRM_T_TEXT, 0, 4, 7, NULL},
    {"group_by", CRM_T_ENUM, 0, 0, 0, perf_groups},
    {"pipeline_id", CRM_T_UUID, 0, 0, 0, NULL},
    END,
};

static const struct crm_field value_query[] = {
    {"as_of", CRM_T_DATE, 0, 0, 0, NULL},
    {"window_days", CRM_T_INT, 0, 1, 3650, NULL},
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    END,
};

static const struct crm_field change_query[] = {
    {"period", CRM_T_TEXT, 0, 4, 7, NULL},
    {"compare_to", CRM_T_TEXT, 0, 4, 7, NULL},
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    END,
};

static const struct crm_field limit_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    END,
};

static const struct crm_field dashboard_query[] = {
    {"months", CRM_T_INT, 0, 1, 36, NULL},
    END,
};

/* --- pipelines and opportunities (sql/0011) --- */
static const char *const stage_kinds[] = {"open", "won", "lost", NULL};
static const char *const forecast_categories[] = {"pipeline", "best_case",
    "commit", "closed", "omitted", NULL};

/* The stages' fields are checked by the database (crm_stage_input). */
static const struct crm_field pipeline_body[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 100, NULL},
    {"is_default", CRM_T_BOOL, 0, 0, 0, NULL},
    {"stages", CRM_T_OBJECT_ARRAY, CRM_F_REQUIRED, 1, 100, NULL},
    END,
};

static const struct crm_field pipeline_update[] = {
    {"name", CRM_T_TEXT, 0, 1, 100, NULL},
    {"is_default", CRM_T_BOOL, 0, 0, 0, NULL},
    {"active", CRM_T_BOOL, 0, 0, 0, NULL},
    END,
};

static const struct crm_field stage_body[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 100, NULL},
    {"kind", CRM_T_ENUM, 0, 0, 0, stage_kinds},
    {"probability", CRM_T_INT, 0, 0, 100, NULL},
    {"forecast_category", CRM_T_ENUM, 0, 0, 0, forecast_categories},
    {"position", CRM_T_INT, 0, 1, 100, NULL},
    END,
};

/* A stage's kind never changes: its opportunities carry it as status. */
static const struct crm_field stage_update[] = {
    {"name", CRM_T_TEXT, 0, 1, 100, NULL},
    {"probability", CRM_T_INT, 0, 0, 100, NULL},
    {"forecast_category", CRM_T_ENUM, 0, 0, 0, forecast_categories},
    {"position", CRM_T_INT, 0, 1, 100, NULL},
    END,
};

/* An opportunity's writable fields; PATCH makes the required optional. */
static const struct crm_field opportunity_body[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    {"customer_id", CRM_T_UUID, CRM_F_REQUIRED, 0, 0, NULL},
    {"contact_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"pipeline_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"stage_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"amount", CRM_T_DECIMAL, CRM_F_REQUIRED, 2, 13, NULL},
    {"currency", CRM_T_TEXT, 0, 3, 3, NULL},
    {"expected_close_date", CRM_T_DATE, CRM_F_NULLABLE, 0, 0, NULL},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"source", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"lead_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"campaign_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"next_step", CRM_T_TEXT, CRM_F_NULLABLE, 1, 500, NULL},
    {"description", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    {"external_id", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    END,
};

static const struct crm_field win_body[] = {
    {"reason", CRM_T_TEXT, 0, 1, 500, NULL},
    END,
};

static const struct crm_field lose_body[] = {
    {"reason", CRM_T_TEXT, CRM_F_REQUIRED, 1, 500, NULL},
    END,
};

static const struct crm_field reopen_body[] = {
    {"stage_id", CRM_T_UUID, 0, 0, 0, NULL},
    END,
};

static const char *const opportunity_statuses[] = {"open", "won", "lost", NULL};
static const char *const opportunity_sorts[] = {"created_at", "-created_at",
    "amount", "-amount", "expected_close_date", "-expected_close_date", NULL};

static const struct crm_field opportunities_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"sort", CRM_T_ENUM, 0, 0, 0, opportunity_sorts},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"customer_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"pipeline_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"stage_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"status", CRM_T_ENUM, 0, 0, 0, opportunity_statuses},
    {"close_after", CRM_T_DATE, 0, 0, 0, NULL},
    {"close_before", CRM_T_DATE, 0, 0, 0, NULL},
    {"q", CRM_T_TEXT, 0, 1, 100, NULL},
    END,
};

static const struct crm_field funnel_query[] = {
    {"pipeline_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"created_after", CRM_T_TIME, 0, 0, 0, NULL},
    {"created_before", CRM_T_TIME, 0, 0, 0, NULL},
    END,
};

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

static const char *const activity_types[] = {"call", "email", "meeting",
    "visit", "note", NULL};
static const char *const directions[] = {"inbound", "outbound", NULL};

/* An activity's writable fields; PATCH makes type and subject optional. */
static const struct crm_field activity_body[] = {
    {"type", CRM_T_ENUM, CRM_F_REQUIRED, 0, 0, activity_types},
    {"subject", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    {"body", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    {"direction", CRM_T_ENUM, CRM_F_NULLABLE, 0, 0, directions},
    {"occurred_at", CRM_T_TIME, 0, 0, 0, NULL},
    {"duration_minutes", CRM_T_INT, CRM_F_NULLABLE, 0, 1440, NULL},
    {"outcome", CRM_T_TEXT, CRM_F_NULLABLE, 1, 500, NULL},
    {"customer_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"contact_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"opportunity_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"lead_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"next_follow_up_at", CRM_T_TIME, CRM_F_NULLABLE, 0, 0, NULL},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    END,
};

static const struct crm_field activities_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"type", CRM_T_ENUM, 0, 0, 0, activity_types},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"customer_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"contact_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"opportunity_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"lead_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"occurred_after", CRM_T_TIME, 0, 0, 0, NULL},
    {"occurred_before", CRM_T_TIME, 0, 0, 0, NULL},
    {"q", CRM_T_TEXT, 0, 1, 100, NULL},
    END,
};

static const struct crm_field daily_log_query[] = {
    {"date", CRM_T_DATE, 0, 0, 0, NULL},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    END,
};

static const char *const priorities[] = {"low", "normal", "high", "urgent",
    NULL};
static const char *const task_statuses[] = {"open", "in_progress", "done",
    "cancelled", NULL};
static const char *const task_sorts[] = {"due_at", "-due_at", "-created_at",
    NULL};

/* A new task: it starts open; the assignee defaults to the caller. */
static const struct crm_field task_create[] = {
    {"title", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    {"description", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    {"assignee_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"due_at", CRM_T_TIME, CRM_F_NULLABLE, 0, 0, NULL},
    {"remind_at", CRM_T_TIME, CRM_F_NULLABLE, 0, 0, NULL},
    {"priority", CRM_T_ENUM, 0, 0, 0, priorities},
    {"customer_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"contact_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"opportunity_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"lead_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    END,
};

/* A task's changes: status too; the assignee only by a transfer. */
static const struct crm_field task_update[] = {
    {"title", CRM_T_TEXT, 0, 1, 200, NULL},
    {"description", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    {"due_at", CRM_T_TIME, CRM_F_NULLABLE, 0, 0, NULL},
    {"remind_at", CRM_T_TIME, CRM_F_NULLABLE, 0, 0, NULL},
    {"priority", CRM_T_ENUM, 0, 0, 0, priorities},
    {"status", CRM_T_ENUM, 0, 0, 0, task_statuses},
    {"customer_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"contact_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"opportunity_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"lead_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    END,
};

static const struct crm_field tasks_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"sort", CRM_T_ENUM, 0, 0, 0, task_sorts},
    {"assignee_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"status", CRM_T_ENUM, 0, 0, 0, task_statuses},
    {"priority", CRM_T_ENUM, 0, 0, 0, priorities},
    {"due_before", CRM_T_TIME, 0, 0, 0, NULL},
    {"due_after", CRM_T_TIME, 0, 0, 0, NULL},
    {"customer_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"opportunity_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"lead_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"overdue", CRM_T_BOOL, 0, 0, 0, NULL},
    END,
};

static const struct crm_field transfer_body[] = {
    {"assignee_id", CRM_T_UUID, CRM_F_REQUIRED, 0, 0, NULL},
    {"note", CRM_T_TEXT, CRM_F_NULLABLE, 1, 500, NULL},
    END,
};

static const struct crm_field agenda_query[] = {
    {"days", CRM_T_INT, 0, 1, 90, NULL},
    END,
};

/* --- products, quotes and contracts (sql/0014) --- */

static const char *const periods[] = {"weekly", "monthly", "bimonthly",
    "quarterly", "yearly", NULL};

/* A product's writable fields; PATCH makes the required ones optional. */
static const struct crm_field product_body[] = {
    {"sku", CRM_T_TEXT, CRM_F_REQUIRED, 1, 64, NULL},
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    {"description", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    {"category", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"unit", CRM_T_TEXT, 0, 1, 20, NULL},
    {"unit_price", CRM_T_DECIMAL, CRM_F_REQUIRED, 2, 13, NULL},
    {"currency", CRM_T_TEXT, 0, 3, 3, NULL},
    {"tax_rate", CRM_T_DECIMAL, 0, 2, 3, NULL},
    {"period", CRM_T_ENUM, CRM_F_NULLABLE, 0, 0, periods},
    {"issues_per_period", CRM_T_INT, CRM_F_NULLABLE, 1, 366, NULL},
    {"active", CRM_T_BOOL, 0, 0, 0, NULL},
    {"external_id", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    END,
};

static const struct crm_field products_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"active", CRM_T_BOOL, 0, 0, 0, NULL},
    {"category", CRM_T_TEXT, 0, 1, 100, NULL},
    {"q", CRM_T_TEXT, 0, 1, 100, NULL},
    END,
};

/* Lines are objects whose fields the database checks, by index. */
static const struct crm_field quote_create[] = {
    {"opportunity_id", CRM_T_UUID, CRM_F_REQUIRED, 0, 0, NULL},
    {"valid_until", CRM_T_DATE, 0, 0, 0, NULL},
    {"notes", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    {"lines", CRM_T_OBJECT_ARRAY, CRM_F_REQUIRED, 1, 200, NULL},
    END,
};

static const struct crm_field quote_update[] = {
    {"valid_until", CRM_T_DATE, 0, 0, 0, NULL},
    {"notes", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    {"lines", CRM_T_OBJECT_ARRAY, 0, 1, 200, NULL},
    END,
};

static const char *const quote_statuses[] = {"draft", "sent", "accepted",
    "rejected", "expired", "superseded", NULL};

static const struct crm_field quotes_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"opportunity_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"customer_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"status", CRM_T_ENUM, 0, 0, 0, quote_statuses},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    END,
};

static const struct crm_field quote_reject[] = {
    {"reason", CRM_T_TEXT, CRM_F_NULLABLE, 1, 500, NULL},
    END,
};

static const struct crm_field template_body[] = {
    {"name", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    {"body", CRM_T_TEXT, CRM_F_REQUIRED, 1, 100000, NULL},
    END,
};

static const struct crm_field page_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    END,
};

static const struct crm_field contract_create[] = {
    {"customer_id", CRM_T_UUID, CRM_F_REQUIRED, 0, 0, NULL},
    {"opportunity_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"quote_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"template_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"title", CRM_T_TEXT, CRM_F_REQUIRED, 1, 200, NULL},
    {"amount", CRM_T_DECIMAL, 0, 2, 13, NULL},
    {"currency", CRM_T_TEXT, 0, 3, 3, NULL},
    {"start_date", CRM_T_DATE, CRM_F_NULLABLE, 0, 0, NULL},
    {"end_date", CRM_T_DATE, CRM_F_NULLABLE, 0, 0, NULL},
    {"terms", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100000, NULL},
    END,
};

static const struct crm_field contract_update[] = {
    {"title", CRM_T_TEXT, 0, 1, 200, NULL},
    {"amount", CRM_T_DECIMAL, 0, 2, 13, NULL},
    {"currency", CRM_T_TEXT, 0, 3, 3, NULL},
    {"start_date", CRM_T_DATE, CRM_F_NULLABLE, 0, 0, NULL},
    {"end_date", CRM_T_DATE, CRM_F_NULLABLE, 0, 0, NULL},
    {"terms", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100000, NULL},
    END,
};

static const char *const contract_statuses[] = {"draft", "pending_approval",
    "approved", "rejected", "signed", "fulfilled", "cancelled", NULL};

static const struct crm_field contracts_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"status", CRM_T_ENUM, 0, 0, 0, contract_statuses},
    {"customer_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"opportunity_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    END,
};

static const struct crm_field contract_reject[] = {
    {"reason", CRM_T_TEXT, CRM_F_REQUIRED, 1, 500, NULL},
    END,
};

static const struct crm_field contract_sign[] = {
    {"signed_at", CRM_T_TIME, 0, 0, 0, NULL},
    END,
};

/* --- orders and subscriptions (sql/0015) --- */
static const char *const order_statuses[] = {"pending", "confirmed",
    "fulfilled", "cancelled", NULL};
static const char *const payment_statuses[] = {"unpaid", "partial", "paid",
    NULL};
static const char *const payment_methods[] = {"bank_transfer", "cash", "card",
    "alipay", "wechat_pay", "cheque", "other", NULL};
static const char *const subscription_statuses[] = {"active", "expired",
    "cancelled", NULL};
static const char *const delivery_statuses[] = {"planned", "shipped",
    "delivered", "returned", NULL};

/* An order; lines are checked by the database, each named lines[i]. */
static const struct crm_field order_body[] = {
    {"customer_id", CRM_T_UUID, CRM_F_REQUIRED, 0, 0, NULL},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"opportunity_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"contract_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"order_date", CRM_T_DATE, 0, 0, 0, NULL},
    {"due_date", CRM_T_DATE, CRM_F_NULLABLE, 0, 0, NULL},
    {"currency", CRM_T_TEXT, 0, 3, 3, NULL},
    {"notes", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    {"external_id", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"lines", CRM_T_OBJECT_ARRAY, CRM_F_REQUIRED, 1, 100, NULL},
    {"subscription", CRM_T_OBJECT, CRM_F_NULLABLE, 0, 0, NULL},
    END,
};

/* PATCH: the same without the customer (an order stays with it). */
static const struct crm_field order_patch[] = {
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"opportunity_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"contract_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    {"order_date", CRM_T_DATE, 0, 0, 0, NULL},
    {"due_date", CRM_T_DATE, CRM_F_NULLABLE, 0, 0, NULL},
    {"currency", CRM_T_TEXT, 0, 3, 3, NULL},
    {"notes", CRM_T_TEXT, CRM_F_NULLABLE, 1, 10000, NULL},
    {"external_id", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    {"lines", CRM_T_OBJECT_ARRAY, 0, 1, 100, NULL},
    {"subscription", CRM_T_OBJECT, CRM_F_NULLABLE, 0, 0, NULL},
    END,
};

static const struct crm_field orders_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"customer_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"status", CRM_T_ENUM, 0, 0, 0, order_statuses},
    {"owner_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"payment_status", CRM_T_ENUM, 0, 0, 0, payment_statuses},
    {"overdue", CRM_T_BOOL, 0, 0, 0, NULL},
    {"ordered_after", CRM_T_DATE, 0, 0, 0, NULL},
    {"ordered_before", CRM_T_DATE, 0, 0, 0, NULL},
    END,
};

static const struct crm_field order_cancel_body[] = {
    {"reason", CRM_T_TEXT, CRM_F_REQUIRED, 1, 500, NULL},
    END,
};

static const struct crm_field payment_body[] = {
    {"amount", CRM_T_DECIMAL, CRM_F_REQUIRED, 2, 13, NULL},
    {"paid_at", CRM_T_TIME, 0, 0, 0, NULL},
    {"method", CRM_T_ENUM, CRM_F_NULLABLE, 0, 0, payment_methods},
    {"reference", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    END,
};

static const struct crm_field subscriptions_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    {"customer_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"product_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"status", CRM_T_ENUM, 0, 0, 0, subscription_statuses},
    {"ends_before", CRM_T_DATE, 0, 0, 0, NULL},
    END,
};

static const struct crm_field renewals_query[] = {
    {"within_days", CRM_T_INT, 0, 1, 366, NULL},
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    END,
};

static const struct crm_field subscription_patch[] = {
    {"quantity", CRM_T_INT, 0, 1, 1000000, NULL},
    {"auto_renew", CRM_T_BOOL, 0, 0, 0, NULL},
    {"delivery_address", CRM_T_TEXT, CRM_F_NULLABLE, 1, 500, NULL},
    {"contact_id", CRM_T_UUID, CRM_F_NULLABLE, 0, 0, NULL},
    END,
};

static const struct crm_field renew_body[] = {
    {"periods", CRM_T_INT, CRM_F_REQUIRED, 1, 120, NULL},
    END,
};

static const struct crm_field delivery_body[] = {
    {"issue", CRM_T_TEXT, CRM_F_REQUIRED, 1, 100, NULL},
    {"issue_date", CRM_T_DATE, CRM_F_REQUIRED, 0, 0, NULL},
    {"quantity", CRM_T_INT, 0, 1, 1000000, NULL},
    {"status", CRM_T_ENUM, 0, 0, 0, delivery_statuses},
    {"tracking_no", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    END,
};

static const struct crm_field delivery_patch[] = {
    {"status", CRM_T_ENUM, 0, 0, 0, delivery_statuses},
    {"quantity", CRM_T_INT, 0, 1, 1000000, NULL},
    {"tracking_no", CRM_T_TEXT, CRM_F_NULLABLE, 1, 100, NULL},
    END,
};

/* --- idempotency and rate limits (sql/0030) --- */

/* --- webhooks and events (sql/0031) --- */
static const char *const webhook_delivery_statuses[] = {"pending", "sending",
    "delivered", "failed", "cancelled", NULL};

/* after: an event id (the feed's cursor), below 2^53. */
static const struct crm_field events_query[] = {
    {"after", CRM_T_INT, 0, 0, 9007199254740991LL, NULL},
    {"types", CRM_T_TEXT, 0, 1, 2000, NULL},
    {"record_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    END,
};

static const struct crm_field webhooks_query[] = {
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    END,
};

/* events: event types, "<record type>.*" or "*" (checked by SQL). */
static const struct crm_field webhook_body[] = {
    {"url", CRM_T_URL, CRM_F_REQUIRED, 0, 2000, NULL},
    {"events", CRM_T_TEXT_ARRAY, CRM_F_REQUIRED, 1, 100, NULL},
    {"description", CRM_T_TEXT, CRM_F_NULLABLE, 1, 500, NULL},
    {"active", CRM_T_BOOL, 0, 0, 0, NULL},
    {"allow_internal", CRM_T_BOOL, 0, 0, 0, NULL},
    END,
};

static const struct crm_field webhook_deliveries_query[] = {
    {"status", CRM_T_ENUM, 0, 0, 0, webhook_delivery_statuses},
    {"limit", CRM_T_INT, 0, 1, 500, NULL},
    {"cursor", CRM_T_CURSOR, 0, 0, 0, NULL},
    END,
};

/* --- imports and exports (sql/0032) --- */
static const char *const import_modes[] = {"insert", "upsert", NULL};

static const struct crm_field import_query[] = {
    {"mode", CRM_T_ENUM, 0, 0, 0, import_modes},
    {"atomic", CRM_T_BOOL, 0, 0, 0, NULL},
    {"dry_run", CRM_T_BOOL, 0, 0, 0, NULL},
    END,
};

/* Columns an import takes beyond the record's own fields. */
static const struct crm_field import_owner[] = {
    {"owner_email", CRM_T_EMAIL, 0, 0, 0, NULL},
    END,
};

/* A contact's customer: by id or by the customer's external id. */
static const struct crm_field import_contact_customer[] = {
    {"customer_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"customer_external_id", CRM_T_TEXT, 0, 1, 100, NULL},
    END,
};

/* An order's customer and owner, by their external id and email. */
static const struct crm_field import_order_refs[] = {
    {"customer_external_id", CRM_T_TEXT, 0, 1, 100, NULL},
    {"owner_email", CRM_T_EMAIL, 0, 0, 0, NULL},
    END,
};

/*
 * The cells of an order's lines.<key> and subscription.<key> columns
 * (what they hold is checked by the database, as for POST /v1/orders);
 * lines.sku names a product by its SKU.
 */
static const struct crm_field import_order_line[] = {
    {"product_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"sku", CRM_T_TEXT, 0, 1, 64, NULL},
    {"quantity", CRM_T_DECIMAL, 0, 3, 9, NULL},
    {"unit_price", CRM_T_DECIMAL, 0, 2, 13, NULL},
    {"discount_percent", CRM_T_DECIMAL, 0, 2, 3, NULL},
    END,
};

static const struct crm_field import_order_subscription[] = {
    {"start_date", CRM_T_DATE, 0, 0, 0, NULL},
    {"periods", CRM_T_INT, 0, 1, 120, NULL},
    {"contact_id", CRM_T_UUID, 0, 0, 0, NULL},
    {"delivery_address", CRM_T_TEXT, 0, 1, 500, NULL},
    {"auto_renew", CRM_T_BOOL, 0, 0, 0, NULL},
    END,
};

static const struct crm_import_nested import_order_nested[] = {
    {"lines", import_order_line},
    {"subscription", import_order_subscription},
    {NULL, NULL},
};

/* Each import checks its lines with the create route's own field list. */
const struct crm_import_spec api_import_customers = {"customers", customer_body,
    import_owner, 1, NULL, 0};
const struct crm_import_spec api_import_contacts = {"contacts", contact_body,
    import_contact_customer, 0, NULL, 0};
const struct crm_import_spec api_import_leads = {"leads", lead_create,
    import_owner, 0, NULL, 0};
const struct crm_import_spec api_import_products = {"products", product_body,
    NULL, 0, NULL, 0};
/* An order may take several CSV lines: one per order line. */
const struct crm_import_spec api_import_orders = {"orders", order_body,
    import_order_refs, 0, import_order_nested, 1};

/* --- batch (sql/0033) --- */
#include "crm/batch.h"

/* A batch: its items are checked one by one in api/batch.c. */
static const struct crm_field batch_body[] = {
    {"items", CRM_T_OBJECT_ARRAY, CRM_F_REQUIRED, 1, CRM_BATCH_MAX, NULL},
    {"all_or_none", CRM_T_BOOL, 0, 0, 0, NULL},
    END,
};

/*
 * What each batch checks its items' data against: the very lists of the
 * single-record routes (POST for create and upsert, PATCH for update).
 */
const struct crm_batch_kind api_batch_customers = {"customers", customer_body,
    customer_body, 1, 0};
const struct crm_batch_kind api_batch_contacts = {"contacts", contact_body,
    contact_body, 0, 1};
const struct crm_batch_kind api_batch_leads = {"leads", lead_create,
    lead_update, 1, 0};
const struct crm_batch_kind api_batch_opportunities = {"opportunities",
    opportunity_body, opportunity_body, 1, 0};
const struct crm_batch_kind api_batch_products = {"products", product_body,
    product_body, 1, 0};
const struct crm_batch_kind api_batch_activities = {"activities", activity_body,
    activity_body, 0, 0};

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

    {GET, "/v1/forecast", "getForecast", NONE, "reports:read", forecast_query,
	NULL, api_forecast_get},
    {GET, "/v1/forecast/trend", "getForecastTrend", NONE, "reports:read",
	trend_query, NULL, api_forecast_trend},
    {GET, "/v1/forecast/slippage", "getForecastSlippage", NONE, "reports:read",
	slippage_query, NULL, api_forecast_slippage},
    {POST, "/v1/forecast/snapshots", "takeForecastSnapshot", NONE,
	"reports:write", no_params, NULL, api_forecast_snapshot},
    {GET, "/v1/quotas", "listQuotas", NONE, "reports:read", quotas_query, NULL,
	api_quotas_list},
    {POST, "/v1/quotas", "createQuota", JSON, PEOPLE_ONLY, no_params,
	quota_create, api_quotas_create},
    {GET, "/v1/quotas/{id}", "getQuota", NONE, "reports:read", no_params, NULL,
	api_quotas_get},
    {PATCH, "/v1/quotas/{id}", "updateQuota", JSON, PEOPLE_ONLY, no_params,
	quota_update, api_quotas_update},
    {DELETE, "/v1/quotas/{id}", "deleteQuota", NONE, PEOPLE_ONLY, no_params,
	NULL, api_quotas_delete},
    {GET, "/v1/reports/sales-performance", "getSalesPerformance", NONE,
	"reports:read", perf_query, NULL, api_reports_sales_performance},
    {GET, "/v1/reports/customer-value", "getCustomerValue", NONE,
	"reports:read", value_query, NULL, api_reports_customer_value},
    {GET, "/v1/reports/customer-value-change", "getCustomerValueChange", NONE,
	"reports:read", change_query, NULL, api_reports_value_change},
    {GET, "/v1/reports/problem-customers", "getProblemCustomers", NONE,
	"reports:read", limit_query, NULL, api_reports_problem_customers},
    {GET, "/v1/reports/churn", "getChurn", NONE, "reports:read", value_query,
	NULL, api_reports_churn},
    {GET, "/v1/dashboard", "getDashboard", NONE, "reports:read",
	dashboard_query, NULL, api_dashboard_get},

    /* --- pipelines and opportunities --- */
    {GET, "/v1/pipelines", "listPipelines", NONE, "opportunities:read",
	no_params, NULL, api_pipelines_list},
    {POST, "/v1/pipelines", "createPipeline", JSON, PEOPLE_ONLY, no_params,
	pipeline_body, api_pipelines_create},
    {GET, "/v1/pipelines/{id}", "getPipeline", NONE, "opportunities:read",
	no_params, NULL, api_pipelines_get},
    {PATCH, "/v1/pipelines/{id}", "updatePipeline", JSON, PEOPLE_ONLY,
	no_params, pipeline_update, api_pipelines_update},
    {POST, "/v1/pipelines/{id}/stages", "createPipelineStage", JSON,
	PEOPLE_ONLY, no_params, stage_body, api_pipeline_stages_create},
    {PATCH, "/v1/pipelines/{id}/stages/{stage_id}", "updatePipelineStage", JSON,
	PEOPLE_ONLY, no_params, stage_update, api_pipeline_stages_update},
    {DELETE, "/v1/pipelines/{id}/stages/{stage_id}", "deletePipelineStage",
	NONE, PEOPLE_ONLY, no_params, NULL, api_pipeline_stages_delete},
    {GET, "/v1/opportunities/funnel", "getOpportunityFunnel", NONE,
	"opportunities:read", funnel_query, NULL, api_opportunities_funnel},
    {GET, "/v1/opportunities", "listOpportunities", NONE, "opportunities:read",
	opportunities_query, NULL, api_opportunities_list},
    {POST, "/v1/opportunities", "createOpportunity", JSON,
	"opportunities:write", no_params, opportunity_body,
	api_opportunities_create},
    {GET, "/v1/opportunities/{id}", "getOpportunity", NONE,
	"opportunities:read", no_params, NULL, api_opportunities_get},
    {PATCH, "/v1/opportunities/{id}", "updateOpportunity", JSON,
	"opportunities:write", no_params, opportunity_body,
	api_opportunities_update},
    {DELETE, "/v1/opportunities/{id}", "deleteOpportunity", NONE,
	"opportunities:write", no_params, NULL, api_opportunities_delete},
    {POST, "/v1/opportunities/{id}/win", "winOpportunity", JSON,
	"opportunities:write", no_params, win_body, api_opportunities_win},
    {POST, "/v1/opportunities/{id}/lose", "loseOpportunity", JSON,
	"opportunities:write", no_params, lose_body, api_opportunities_lose},
    {POST, "/v1/opportunities/{id}/reopen", "reopenOpportunity", JSON,
	"opportunities:write", no_params, reopen_body,
	api_opportunities_reopen},
    {GET, "/v1/opportunities/{id}/history", "getOpportunityHistory", NONE,
	"opportunities:read", no_params, NULL, api_opportunities_history},

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
    {GET, "/v1/activities", "listActivities", NONE, "activities:read",
	activities_query, NULL, api_activities_list},
    {POST, "/v1/activities", "createActivity", JSON, "activities:write",
	no_params, activity_body, api_activities_create},
    {GET, "/v1/activities/daily-log", "getDailyLog", NONE, "activities:read",
	daily_log_query, NULL, api_activities_daily_log},
    {GET, "/v1/activities/{id}", "getActivity", NONE, "activities:read",
	no_params, NULL, api_activities_get},
    {PATCH, "/v1/activities/{id}", "updateActivity", JSON, "activities:write",
	no_params, activity_body, api_activities_update},
    {DELETE, "/v1/activities/{id}", "deleteActivity", NONE, "activities:write",
	no_params, NULL, api_activities_delete},
    {GET, "/v1/tasks", "listTasks", NONE, "tasks:read", tasks_query, NULL,
	api_tasks_list},
    {POST, "/v1/tasks", "createTask", JSON, "tasks:write", no_params,
	task_create, api_tasks_create},
    {GET, "/v1/tasks/{id}", "getTask", NONE, "tasks:read", no_params, NULL,
	api_tasks_get},
    {PATCH, "/v1/tasks/{id}", "updateTask", JSON, "tasks:write", no_params,
	task_update, api_tasks_update},
    {DELETE, "/v1/tasks/{id}", "deleteTask", NONE, "tasks:write", no_params,
	NULL, api_tasks_delete},
    {POST, "/v1/tasks/{id}/transfer", "transferTask", JSON, "tasks:write",
	no_params, transfer_body, api_tasks_transfer},
    {GET, "/v1/tasks/{id}/transfers", "listTaskTransfers", NONE, "tasks:read",
	no_params, NULL, api_tasks_transfers},
    {GET, "/v1/me/agenda", "getAgenda", NONE, "tasks:read", agenda_query, NULL,
	api_me_agenda},

    /* --- products, quotes and contracts --- */
    {GET, "/v1/products", "listProducts", NONE, "products:read", products_query,
	NULL, api_products_list},
    {POST, "/v1/products", "createProduct", JSON, "products:write", no_params,
	product_body, api_products_create},
    {GET, "/v1/products/{id}", "getProduct", NONE, "products:read", no_params,
	NULL, api_products_get},
    {PATCH, "/v1/products/{id}", "updateProduct", JSON, "products:write",
	no_params, product_body, api_products_update},

    {GET, "/v1/quotes", "listQuotes", NONE, "quotes:read", quotes_query, NULL,
	api_quotes_list},
    {POST, "/v1/quotes", "createQuote", JSON, "quotes:write", no_params,
	quote_create, api_quotes_create},
    {GET, "/v1/quotes/{id}", "getQuote", NONE, "quotes:read", no_params, NULL,
	api_quotes_get},
    {PATCH, "/v1/quotes/{id}", "updateQuote", JSON, "quotes:write", no_params,
	quote_update, api_quotes_update},
    {POST, "/v1/quotes/{id}/send", "sendQuote", NONE, "quotes:write", no_params,
	NULL, api_quotes_send},
    {POST, "/v1/quotes/{id}/revise", "reviseQuote", NONE, "quotes:write",
	no_params, NULL, api_quotes_revise},
    {POST, "/v1/quotes/{id}/reject", "rejectQuote", JSON, "quotes:write",
	no_params, quote_reject, api_quotes_reject},
    {POST, "/v1/quotes/{id}/accept", "acceptQuote", NONE, "quotes:write",
	no_params, NULL, api_quotes_accept},

    {GET, "/v1/contract-templates", "listContractTemplates", NONE,
	"contracts:read", page_query, NULL, api_contract_templates_list},
    {POST, "/v1/contract-templates", "createContractTemplate", JSON,
	"contracts:write", no_params, template_body,
	api_contract_templates_create},
    {GET, "/v1/contract-templates/{id}", "getContractTemplate", NONE,
	"contracts:read", no_params, NULL, api_contract_templates_get},
    {PATCH, "/v1/contract-templates/{id}", "updateContractTemplate", JSON,
	"contracts:write", no_params, template_body,
	api_contract_templates_update},
    {DELETE, "/v1/contract-templates/{id}", "deleteContractTemplate", NONE,
	"contracts:write", no_params, NULL, api_contract_templates_delete},

    {GET, "/v1/contracts", "listContracts", NONE, "contracts:read",
	contracts_query, NULL, api_contracts_list},
    {POST, "/v1/contracts", "createContract", JSON, "contracts:write",
	no_params, contract_create, api_contracts_create},
    {GET, "/v1/contracts/{id}", "getContract", NONE, "contracts:read",
	no_params, NULL, api_contracts_get},
    {PATCH, "/v1/contracts/{id}", "updateContract", JSON, "contracts:write",
	no_params, contract_update, api_contracts_update},
    {POST, "/v1/contracts/{id}/submit", "submitContract", NONE,
	"contracts:write", no_params, NULL, api_contracts_submit},
    {POST, "/v1/contracts/{id}/approve", "approveContract", NONE,
	"contracts:write", no_params, NULL, api_contracts_approve},
    {POST, "/v1/contracts/{id}/reject", "rejectContract", JSON,
	"contracts:write", no_params, contract_reject, api_contracts_reject},
    {POST, "/v1/contracts/{id}/sign", "signContract", JSON, "contracts:write",
	no_params, contract_sign, api_contracts_sign},
    {POST, "/v1/contracts/{id}/fulfil", "fulfilContract", NONE,
	"contracts:write", no_params, NULL, api_contracts_fulfil},
    {POST, "/v1/contracts/{id}/cancel", "cancelContract", NONE,
	"contracts:write", no_params, NULL, api_contracts_cancel},
    {GET, "/v1/contracts/{id}/events", "listContractEvents", NONE,
	"contracts:read", no_params, NULL, api_contracts_events},

    /* --- orders and subscriptions --- */
    {GET, "/v1/orders", "listOrders", NONE, "orders:read", orders_query, NULL,
	api_orders_list},
    {POST, "/v1/orders", "createOrder", JSON, "orders:write", no_params,
	order_body, api_orders_create},
    {GET, "/v1/orders/{id}", "getOrder", NONE, "orders:read", no_params, NULL,
	api_orders_get},
    {PATCH, "/v1/orders/{id}", "updateOrder", JSON, "orders:write", no_params,
	order_patch, api_orders_update},
    {POST, "/v1/orders/{id}/confirm", "confirmOrder", NONE, "orders:write",
	no_params, NULL, api_orders_confirm},
    {POST, "/v1/orders/{id}/fulfil", "fulfilOrder", NONE, "orders:write",
	no_params, NULL, api_orders_fulfil},
    {POST, "/v1/orders/{id}/cancel", "cancelOrder", JSON, "orders:write",
	no_params, order_cancel_body, api_orders_cancel},
    {GET, "/v1/orders/{id}/payments", "listOrderPayments", NONE, "orders:read",
	no_params, NULL, api_order_payments_list},
    {POST, "/v1/orders/{id}/payments", "createOrderPayment", JSON,
	"orders:write", no_params, payment_body, api_order_payments_create},
    {GET, "/v1/subscriptions", "listSubscriptions", NONE, "orders:read",
	subscriptions_query, NULL, api_subscriptions_list},
    {GET, "/v1/subscriptions/renewals", "listSubscriptionRenewals", NONE,
	"orders:read", renewals_query, NULL, api_subscriptions_renewals},
    {GET, "/v1/subscriptions/{id}", "getSubscription", NONE, "orders:read",
	no_params, NULL, api_subscriptions_get},
    {PATCH, "/v1/subscriptions/{id}", "updateSubscription", JSON,
	"orders:write", no_params, subscription_patch,
	api_subscriptions_update},
    {POST, "/v1/subscriptions/{id}/cancel", "cancelSubscription", NONE,
	"orders:write", no_params, NULL, api_subscriptions_cancel},
    {POST, "/v1/subscriptions/{id}/renew", "renewSubscription", JSON,
	"orders:write", no_params, renew_body, api_subscriptions_renew},
    {GET, "/v1/subscriptions/{id}/deliveries", "listDeliveries", NONE,
	"orders:read", no_params, NULL, api_deliveries_list},
    {POST, "/v1/subscriptions/{id}/deliveries", "createDelivery", JSON,
	"orders:write", no_params, delivery_body, api_deliveries_create},
    {PATCH, "/v1/subscriptions/{id}/deliveries/{delivery_id}", "updateDelivery",
	JSON, "orders:write", no_params, delivery_patch, api_deliveries_update},

    /* --- idempotency and rate limits --- */

    /* --- webhooks and events --- */
    {GET, "/v1/events", "listEvents", NONE, "events:read", events_query, NULL,
	api_events_list},
    {GET, "/v1/webhooks", "listWebhooks", NONE, PEOPLE_ONLY, webhooks_query,
	NULL, api_webhooks_list},
    {POST, "/v1/webhooks", "createWebhook", JSON, PEOPLE_ONLY, no_params,
	webhook_body, api_webhooks_create},
    {GET, "/v1/webhooks/{id}", "getWebhook", NONE, PEOPLE_ONLY, no_params, NULL,
	api_webhooks_get},
    {PATCH, "/v1/webhooks/{id}", "updateWebhook", JSON, PEOPLE_ONLY, no_params,
	webhook_body, api_webhooks_update},
    {DELETE, "/v1/webhooks/{id}", "deleteWebhook", NONE, PEOPLE_ONLY, no_params,
	NULL, api_webhooks_delete},
    {GET, "/v1/webhooks/{id}/deliveries", "listWebhookDeliveries", NONE,
	PEOPLE_ONLY, webhook_deliveries_query, NULL,
	api_webhook_deliveries_list},
    {POST, "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
	"redeliverWebhookDelivery", NONE, PEOPLE_ONLY, no_params, NULL,
	api_webhook_deliveries_redeliver},

    /* --- imports and exports --- */
    {POST, "/v1/imports/customers", "importCustomers", API_BODY_STREAM,
	"customers:write", import_query, NULL, api_imports_customers},
    {POST, "/v1/imports/contacts", "importContacts", API_BODY_STREAM,
	"contacts:write", import_query, NULL, api_imports_contacts},
    {POST, "/v1/imports/leads", "importLeads", API_BODY_STREAM, "leads:write",
	import_query, NULL, api_imports_leads},
    {POST, "/v1/imports/products", "importProducts", API_BODY_STREAM,
	"products:write", import_query, NULL, api_imports_products},
    {POST, "/v1/imports/orders", "importOrders", API_BODY_STREAM,
	"orders:write", import_query, NULL, api_imports_orders},
    /* Exports take the list's own parameters (paging refused). */
    {GET, "/v1/customers/export", "exportCustomers", NONE, "customers:read",
	customers_query, NULL, api_exports_customers},
    {GET, "/v1/contacts/export", "exportContacts", NONE, "contacts:read",
	contacts_query, NULL, api_exports_contacts},
    {GET, "/v1/leads/export", "exportLeads", NONE, "leads:read", leads_query,
	NULL, api_exports_leads},
    {GET, "/v1/opportunities/export", "exportOpportunities", NONE,
	"opportunities:read", opportunities_query, NULL,
	api_exports_opportunities},
    {GET, "/v1/orders/export", "exportOrders", NONE, "orders:read",
	orders_query, NULL, api_exports_orders},

    /* --- batch --- */
    {POST, "/v1/customers/batch", "batchCustomers", JSON, "customers:write",
	no_params, batch_body, api_customers_batch},
    {POST, "/v1/contacts/batch", "batchContacts", JSON, "contacts:write",
	no_params, batch_body, api_contacts_batch},
    {POST, "/v1/leads/batch", "batchLeads", JSON, "leads:write", no_params,
	batch_body, api_leads_batch},
    {POST, "/v1/opportunities/batch", "batchOpportunities", JSON,
	"opportunities:write", no_params, batch_body, api_opportunities_batch},
    {POST, "/v1/products/batch", "batchProducts", JSON, "products:write",
	no_params, batch_body, api_products_batch},
    {POST, "/v1/activities/batch", "batchActivities", JSON, "activities:write",
	no_params, batch_body, api_activities_batch},
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
