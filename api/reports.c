/*
 * Sales and customer analytics and the executive dashboard (R29,
 * R50-R53): each handler runs one api_* function of sql/0021_reports.sql
 * over what the caller may see, and answers JSON or, with Accept:
 * text/csv, the report's rows as CSV.
 */
#include "api.h"

/* GET /v1/reports/sales-performance?period=&group_by=&pipeline_id= */
int
api_reports_sales_performance(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx,
	    "SELECT api_reports_sales_performance($1, $2)", ctx->query, 200,
	    API_RESP_CSV));
}

/* GET /v1/reports/customer-value?as_of=&window_days=&limit= */
int
api_reports_customer_value(struct http_request *req, struct api_ctx *ctx)
{
	return (
	    api_db_with(req, ctx, "SELECT api_reports_customer_value($1, $2)",
		ctx->query, 200, API_RESP_CSV));
}

/* GET /v1/reports/customer-value-change?period=&compare_to=&limit= */
int
api_reports_value_change(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_reports_value_change($1, $2)",
	    ctx->query, 200, API_RESP_CSV));
}

/* GET /v1/reports/problem-customers?limit= */
int
api_reports_problem_customers(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx,
	    "SELECT api_reports_problem_customers($1, $2)", ctx->query, 200,
	    API_RESP_CSV));
}

/* GET /v1/reports/churn?window_days=&as_of=&limit= */
int
api_reports_churn(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_reports_churn($1, $2)",
	    ctx->query, 200, API_RESP_CSV));
}

/* GET /v1/dashboard?months= */
int
api_dashboard_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_dashboard($1, $2)",
	    ctx->query, 200, API_RESP_CSV));
}
