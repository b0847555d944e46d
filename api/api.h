/*
 * The HTTP surface: the per-request context every handler receives, the
 * route table, and the response helpers. Everything Kore-specific about a
 * request lives in api/ (and src/db.c); the core in src/ does not see it.
 */
#ifndef CRM_API_H
#define CRM_API_H

#include <sys/types.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/tasks.h>

#include "crm/config.h"
#include "crm/db.h"
#include "crm/error.h"
#include "crm/idempotency.h"
#include "crm/import.h"
#include "crm/route.h"
#include "crm/util.h"
#include "crm/validate.h"

#define API_BODY_NONE 0x00 /* no request body is read */
#define API_BODY_JSON 0x01 /* a JSON object, at most json_body_max */
#define API_BODY_STREAM 0x02 /* read by the handler, at most import_body_max */

struct api_ctx;

typedef int (*api_handler)(struct http_request *, struct api_ctx *);

/*
 * One operation. `scope` is what an API key needs ("users:read"); NULL
 * makes the route public (probes, login). `query` lists the accepted
 * query parameters (NULL: the query string is not read); `fields` the
 * JSON body's fields.
 */
struct api_route {
	int method; /* HTTP_METHOD_* */
	const char *pattern; /* "/v1/customers/{id}" */
	const char *operation; /* the OpenAPI operationId */
	int body; /* API_BODY_* */
	const char *scope;
	const struct crm_field *query;
	const struct crm_field *fields;
	api_handler handler;
};

/*
 * What runs in a task thread, kept off the event loop: scrypt, or the
 * resolution of a webhook target (api_work_resolve).
 */
struct api_work {
	struct kore_task task; /* first: the thread gets this pointer */
	int started;
	int verify; /* 1: verify `password` against `encoded` */
	char password[1025];
	char encoded[256]; /* in: hash to verify; out: new hash */
	int ok;
	int resolve; /* 1: resolve `url`, the worst class into `verdict` */
	char url[2001];
	int verdict; /* enum crm_addr_class, -1 when it did not resolve */
	char detail[512]; /* why it did not parse or resolve */
};

struct api_ctx {
	char request_id[CRM_REQUEST_ID_MAX + 1];
	const struct api_route *route;
	struct crm_route_params params;
	struct crm_db *db;
	u_int64_t start_ms;
	int status;
	int logged;
	char *principal; /* JSON for crm_bind(); NULL on public routes */
	char credential[80]; /* "key:<sha256>" or "user:<id>": rate limits */
	int admin_claim; /* a token whose role claim is admin: a hint only,
			    the database decides */
	char ip[64];
	json_t *body; /* the parsed, validated JSON body */
	json_t *query; /* the parsed, validated query parameters */
	struct api_work *work;
	void *job; /* a handler's own state: a bulk job (imports.c) */
	int (*job_free)(void *); /* releases it; 0 while its thread runs */
	int step; /* a handler's own progress across wake-ups */
	json_t *state; /* a handler's own JSON across wake-ups; freed with it */
	const char *location; /* collection for Location (default: path) */
	char idem_key[CRM_IDEM_KEY_MAX + 1]; /* "": none, or used already */
	char idem_hash[CRM_IDEM_HASH_LEN + 1];
};

#define API_RESP_PLAIN 0x00
#define API_RESP_LOCATION 0x01 /* 201: Location from the body's id */
#define API_RESP_ETAG 0x02 /* ETag from the body's version */
#define API_RESP_EMPTY 0x04 /* 204 on success, body dropped */
#define API_RESP_CSV 0x08 /* text/csv when Accept asks for it (reports) */

extern const struct api_route api_routes[];
extern const size_t api_routes_count;
extern struct crm_config api_config;

/* router.c */
int crm_dispatch(struct http_request *);

/* respond.c */
int api_respond_json(struct http_request *, struct api_ctx *, int, const char *,
    size_t);
int api_respond_problem(struct http_request *, struct api_ctx *,
    const struct crm_error *);
int api_respond_error(struct http_request *, struct api_ctx *,
    enum crm_error_kind, const char *);
int api_db_respond(struct http_request *, struct api_ctx *, int, int);
struct crm_db *api_db(struct http_request *, struct api_ctx *, const char *);
int api_db_param(struct api_ctx *, const char *);
int api_db_param_json(struct api_ctx *, json_t *);
int api_path_id(struct http_request *, struct api_ctx *);
int
api_db_by_id(struct http_request *, struct api_ctx *, const char *, int, int);
int api_db_with(struct http_request *, struct api_ctx *, const char *, json_t *,
    int, int);
int api_db_by_id_with(struct http_request *, struct api_ctx *, const char *,
    json_t *, int, int);
int api_db_versioned(struct http_request *, struct api_ctx *, const char *,
    json_t *, int, int);
int api_if_match(struct http_request *, struct api_ctx *, char *, size_t);

/* session.c */
int api_authenticate(struct http_request *, struct api_ctx *);
int api_auth_login(struct http_request *, struct api_ctx *);
int api_auth_refresh(struct http_request *, struct api_ctx *);
int api_auth_logout(struct http_request *, struct api_ctx *);

/* work.c */
int api_work_start(struct http_request *, struct api_ctx *, int, const char *,
    const char *);
int api_work_done(struct http_request *, struct api_ctx *);
int api_work_resolve(struct http_request *, struct api_ctx *, const char *);

/* health.c */
int api_health_live(struct http_request *, struct api_ctx *);
int api_health_ready(struct http_request *, struct api_ctx *);
int api_openapi_get(struct http_request *, struct api_ctx *);

/* users.c */
int api_me_get(struct http_request *, struct api_ctx *);
int api_users_list(struct http_request *, struct api_ctx *);
int api_users_get(struct http_request *, struct api_ctx *);
int api_users_create(struct http_request *, struct api_ctx *);
int api_users_update(struct http_request *, struct api_ctx *);
int api_users_deactivate(struct http_request *, struct api_ctx *);
int api_keys_create(struct http_request *, struct api_ctx *);
int api_keys_list(struct http_request *, struct api_ctx *);
int api_keys_revoke(struct http_request *, struct api_ctx *);
int api_audit_list(struct http_request *, struct api_ctx *);

/* customers.c */
int api_customers_create(struct http_request *, struct api_ctx *);
int api_customers_get(struct http_request *, struct api_ctx *);
int api_customers_update(struct http_request *, struct api_ctx *);
int api_customers_delete(struct http_request *, struct api_ctx *);
int api_customers_restore(struct http_request *, struct api_ctx *);
int api_customers_lifecycle(struct http_request *, struct api_ctx *);
int api_customers_list(struct http_request *, struct api_ctx *);
int api_customers_overview(struct http_request *, struct api_ctx *);
int api_customers_graph(struct http_request *, struct api_ctx *);
int api_customers_duplicates(struct http_request *, struct api_ctx *);
int api_customers_merge(struct http_request *, struct api_ctx *);

/* contacts.c */
int api_contacts_create(struct http_request *, struct api_ctx *);
int api_contacts_of_customer(struct http_request *, struct api_ctx *);
int api_contacts_list(struct http_request *, struct api_ctx *);
int api_contacts_get(struct http_request *, struct api_ctx *);
int api_contacts_update(struct http_request *, struct api_ctx *);
int api_contacts_delete(struct http_request *, struct api_ctx *);
int api_contact_relations_list(struct http_request *, struct api_ctx *);
int api_contact_relations_create(struct http_request *, struct api_ctx *);
int api_contact_relations_delete(struct http_request *, struct api_ctx *);

/* segments.c */
int api_customers_search(struct http_request *, struct api_ctx *);
int api_segments_list(struct http_request *, struct api_ctx *);
int api_segments_create(struct http_request *, struct api_ctx *);
int api_segments_get(struct http_request *, struct api_ctx *);
int api_segments_delete(struct http_request *, struct api_ctx *);
int api_segments_members(struct http_request *, struct api_ctx *);
int api_custom_fields_list(struct http_request *, struct api_ctx *);
int api_custom_fields_create(struct http_request *, struct api_ctx *);
int api_custom_fields_delete(struct http_request *, struct api_ctx *);

/* forecast.c */
int api_forecast_get(struct http_request *, struct api_ctx *);
int api_forecast_trend(struct http_request *, struct api_ctx *);
int api_forecast_slippage(struct http_request *, struct api_ctx *);
int api_forecast_snapshot(struct http_request *, struct api_ctx *);
int api_quotas_list(struct http_request *, struct api_ctx *);
int api_quotas_create(struct http_request *, struct api_ctx *);
int api_quotas_get(struct http_request *, struct api_ctx *);
int api_quotas_update(struct http_request *, struct api_ctx *);
int api_quotas_delete(struct http_request *, struct api_ctx *);

/* reports.c */
int api_reports_sales_performance(struct http_request *, struct api_ctx *);
int api_reports_customer_value(struct http_request *, struct api_ctx *);
int api_reports_value_change(struct http_request *, struct api_ctx *);
int api_reports_problem_customers(struct http_request *, struct api_ctx *);
int api_reports_churn(struct http_request *, struct api_ctx *);
int api_dashboard_get(struct http_request *, struct api_ctx *);

/* pipelines.c */
int api_pipelines_list(struct http_request *, struct api_ctx *);
int api_pipelines_create(struct http_request *, struct api_ctx *);
int api_pipelines_get(struct http_request *, struct api_ctx *);
int api_pipelines_update(struct http_request *, struct api_ctx *);
int api_pipeline_stages_create(struct http_request *, struct api_ctx *);
int api_pipeline_stages_update(struct http_request *, struct api_ctx *);
int api_pipeline_stages_delete(struct http_request *, struct api_ctx *);

/* opportunities.c */
int api_opportunities_create(struct http_request *, struct api_ctx *);
int api_opportunities_list(struct http_request *, struct api_ctx *);
int api_opportunities_funnel(struct http_request *, struct api_ctx *);
int api_opportunities_get(struct http_request *, struct api_ctx *);
int api_opportunities_update(struct http_request *, struct api_ctx *);
int api_opportunities_delete(struct http_request *, struct api_ctx *);
int api_opportunities_win(struct http_request *, struct api_ctx *);
int api_opportunities_lose(struct http_request *, struct api_ctx *);
int api_opportunities_reopen(struct http_request *, struct api_ctx *);
int api_opportunities_history(struct http_request *, struct api_ctx *);

/* leads.c */
int api_leads_list(struct http_request *, struct api_ctx *);
int api_leads_create(struct http_request *, struct api_ctx *);
int api_leads_get(struct http_request *, struct api_ctx *);
int api_leads_update(struct http_request *, struct api_ctx *);
int api_leads_delete(struct http_request *, struct api_ctx *);
int api_leads_history(struct http_request *, struct api_ctx *);
int api_leads_qualify(struct http_request *, struct api_ctx *);
int api_leads_disqualify(struct http_request *, struct api_ctx *);
int api_leads_assign(struct http_request *, struct api_ctx *);
int api_leads_convert(struct http_request *, struct api_ctx *);
int api_lead_scoring_rules_list(struct http_request *, struct api_ctx *);
int api_lead_scoring_rules_create(struct http_request *, struct api_ctx *);
int api_lead_scoring_rules_update(struct http_request *, struct api_ctx *);
int api_lead_scoring_rules_delete(struct http_request *, struct api_ctx *);
int api_lead_grading_get(struct http_request *, struct api_ctx *);
int api_lead_grading_put(struct http_request *, struct api_ctx *);
int api_assignment_rules_list(struct http_request *, struct api_ctx *);
int api_assignment_rules_create(struct http_request *, struct api_ctx *);
int api_assignment_rules_update(struct http_request *, struct api_ctx *);
int api_assignment_rules_delete(struct http_request *, struct api_ctx *);
int api_lead_forms_list(struct http_request *, struct api_ctx *);
int api_lead_forms_create(struct http_request *, struct api_ctx *);
int api_lead_forms_revoke(struct http_request *, struct api_ctx *);
int api_lead_forms_submit(struct http_request *, struct api_ctx *);
/* routes.c: the fields of a conversion's nested `opportunity` */
extern const struct crm_field api_lead_opportunity_fields[];

/* activities.c */
int api_activities_create(struct http_request *, struct api_ctx *);
int api_activities_list(struct http_request *, struct api_ctx *);
int api_activities_daily_log(struct http_request *, struct api_ctx *);
int api_activities_get(struct http_request *, struct api_ctx *);
int api_activities_update(struct http_request *, struct api_ctx *);
int api_activities_delete(struct http_request *, struct api_ctx *);

/* tasks.c */
int api_tasks_create(struct http_request *, struct api_ctx *);
int api_tasks_list(struct http_request *, struct api_ctx *);
int api_tasks_get(struct http_request *, struct api_ctx *);
int api_tasks_update(struct http_request *, struct api_ctx *);
int api_tasks_delete(struct http_request *, struct api_ctx *);
int api_tasks_transfer(struct http_request *, struct api_ctx *);
int api_tasks_transfers(struct http_request *, struct api_ctx *);
int api_me_agenda(struct http_request *, struct api_ctx *);

/* products.c */
int api_products_list(struct http_request *, struct api_ctx *);
int api_products_create(struct http_request *, struct api_ctx *);
int api_products_get(struct http_request *, struct api_ctx *);
int api_products_update(struct http_request *, struct api_ctx *);

/* quotes.c */
int api_quotes_list(struct http_request *, struct api_ctx *);
int api_quotes_create(struct http_request *, struct api_ctx *);
int api_quotes_get(struct http_request *, struct api_ctx *);
int api_quotes_update(struct http_request *, struct api_ctx *);
int api_quotes_send(struct http_request *, struct api_ctx *);
int api_quotes_revise(struct http_request *, struct api_ctx *);
int api_quotes_reject(struct http_request *, struct api_ctx *);
int api_quotes_accept(struct http_request *, struct api_ctx *);

/* contracts.c */
int api_contract_templates_list(struct http_request *, struct api_ctx *);
int api_contract_templates_create(struct http_request *, struct api_ctx *);
int api_contract_templates_get(struct http_request *, struct api_ctx *);
int api_contract_templates_update(struct http_request *, struct api_ctx *);
int api_contract_templates_delete(struct http_request *, struct api_ctx *);
int api_contracts_list(struct http_request *, struct api_ctx *);
int api_contracts_create(struct http_request *, struct api_ctx *);
int api_contracts_get(struct http_request *, struct api_ctx *);
int api_contracts_update(struct http_request *, struct api_ctx *);
int api_contracts_submit(struct http_request *, struct api_ctx *);
int api_contracts_approve(struct http_request *, struct api_ctx *);
int api_contracts_reject(struct http_request *, struct api_ctx *);
int api_contracts_sign(struct http_request *, struct api_ctx *);
int api_contracts_fulfil(struct http_request *, struct api_ctx *);
int api_contracts_cancel(struct http_request *, struct api_ctx *);
int api_contracts_events(struct http_request *, struct api_ctx *);

/* orders.c */
int api_orders_list(struct http_request *, struct api_ctx *);
int api_orders_create(struct http_request *, struct api_ctx *);
int api_orders_get(struct http_request *, struct api_ctx *);
int api_orders_update(struct http_request *, struct api_ctx *);
int api_orders_confirm(struct http_request *, struct api_ctx *);
int api_orders_fulfil(struct http_request *, struct api_ctx *);
int api_orders_cancel(struct http_request *, struct api_ctx *);
int api_order_payments_create(struct http_request *, struct api_ctx *);
int api_order_payments_list(struct http_request *, struct api_ctx *);
int api_subscriptions_list(struct http_request *, struct api_ctx *);
int api_subscriptions_renewals(struct http_request *, struct api_ctx *);
int api_subscriptions_get(struct http_request *, struct api_ctx *);
int api_subscriptions_update(struct http_request *, struct api_ctx *);
int api_subscriptions_cancel(struct http_request *, struct api_ctx *);
int api_subscriptions_renew(struct http_request *, struct api_ctx *);
int api_deliveries_create(struct http_request *, struct api_ctx *);
int api_deliveries_list(struct http_request *, struct api_ctx *);
int api_deliveries_update(struct http_request *, struct api_ctx *);

/* --- idempotency and rate limits --- */
/* ratelimit.c */
void api_ratelimit_init(void);
int api_ratelimit_check(struct http_request *, struct api_ctx *);
/* idempotency.c */
int api_idempotency_read(struct http_request *, struct api_ctx *);
int api_idempotency_hash(struct http_request *, struct api_ctx *);

/* --- webhooks and events --- */
/* webhooks.c */
int api_events_list(struct http_request *, struct api_ctx *);
int api_webhooks_list(struct http_request *, struct api_ctx *);
int api_webhooks_create(struct http_request *, struct api_ctx *);
int api_webhooks_get(struct http_request *, struct api_ctx *);
int api_webhooks_update(struct http_request *, struct api_ctx *);
int api_webhooks_delete(struct http_request *, struct api_ctx *);
int api_webhook_deliveries_list(struct http_request *, struct api_ctx *);
int api_webhook_deliveries_redeliver(struct http_request *, struct api_ctx *);

/* --- imports and exports --- */
/* imports.c */
int api_imports_customers(struct http_request *, struct api_ctx *);
int api_imports_contacts(struct http_request *, struct api_ctx *);
int api_imports_leads(struct http_request *, struct api_ctx *);
int api_imports_products(struct http_request *, struct api_ctx *);
int api_imports_orders(struct http_request *, struct api_ctx *);
int api_exports_customers(struct http_request *, struct api_ctx *);
int api_exports_contacts(struct http_request *, struct api_ctx *);
int api_exports_leads(struct http_request *, struct api_ctx *);
int api_exports_opportunities(struct http_request *, struct api_ctx *);
int api_exports_orders(struct http_request *, struct api_ctx *);
/* routes.c: what each import reads */
extern const struct crm_import_spec api_import_customers;
extern const struct crm_import_spec api_import_contacts;
extern const struct crm_import_spec api_import_leads;
extern const struct crm_import_spec api_import_products;
extern const struct crm_import_spec api_import_orders;

/* --- batch --- */
/* batch.c: POST /v1/{resource}/batch */
int api_customers_batch(struct http_request *, struct api_ctx *);
int api_contacts_batch(struct http_request *, struct api_ctx *);
int api_leads_batch(struct http_request *, struct api_ctx *);
int api_opportunities_batch(struct http_request *, struct api_ctx *);
int api_products_batch(struct http_request *, struct api_ctx *);
int api_activities_batch(struct http_request *, struct api_ctx *);
/* routes.c: what each batch checks its items against */
struct crm_batch_kind;
extern const struct crm_batch_kind api_batch_customers, api_batch_contacts,
    api_batch_leads, api_batch_opportunities, api_batch_products,
    api_batch_activities;

/* the embedded spec (generated from openapi/openapi.yaml) */
extern const char crm_openapi_json[];
extern const size_t crm_openapi_json_len;

#endif
