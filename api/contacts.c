/*
 * Contacts (R11): the people at a customer, with their buying role. A
 * contact is visible and changeable exactly when its customer is; each
 * handler runs one api_* function of sql/0007_contacts.sql.
 */
#include "api.h"

/* POST /v1/customers/{id}/contacts */
int
api_contacts_create(struct http_request *req, struct api_ctx *ctx)
{
	ctx->location = "/v1/contacts";
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_contacts_create($1, $2, $3)", ctx->body, 201,
	    API_RESP_LOCATION | API_RESP_ETAG));
}

/* GET /v1/customers/{id}/contacts */
int
api_contacts_of_customer(struct http_request *req, struct api_ctx *ctx)
{
	return (
	    api_db_by_id_with(req, ctx, "SELECT api_contacts_list($1, $2, $3)",
		ctx->query, 200, API_RESP_PLAIN));
}

/* GET /v1/contacts */
int
api_contacts_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_with(req, ctx, "SELECT api_contacts_list($1, NULL, $2)",
	    ctx->query, 200, API_RESP_PLAIN));
}

/* GET /v1/contacts/{id} */
int
api_contacts_get(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_contacts_get($1, $2)", 200,
	    API_RESP_ETAG));
}

/* PATCH /v1/contacts/{id} */
int
api_contacts_update(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_versioned(req, ctx,
	    "SELECT api_contacts_update($1, $2, $3, $4)", ctx->body, 200,
	    API_RESP_ETAG));
}

/* DELETE /v1/contacts/{id}: soft delete, 204. */
int
api_contacts_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx, "SELECT api_contacts_delete($1, $2)",
	    204, API_RESP_EMPTY));
}

/* GET /v1/contacts/{id}/relations */
int
api_contact_relations_list(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id(req, ctx,
	    "SELECT api_contact_relations_list($1, $2)", 200, API_RESP_PLAIN));
}

/* POST /v1/contacts/{id}/relations {to_contact_id, kind} */
int
api_contact_relations_create(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_contact_relations_create($1, $2, $3)", ctx->body, 201,
	    API_RESP_PLAIN));
}

/* DELETE /v1/contacts/{id}/relations/{relation_id} */
int
api_contact_relations_delete(struct http_request *req, struct api_ctx *ctx)
{
	return (api_db_by_id_with(req, ctx,
	    "SELECT api_contact_relations_delete($1, $2, $3)", NULL, 204,
	    API_RESP_EMPTY));
}
