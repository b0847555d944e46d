/*
 * The CRM API's TypeScript client: openapi-fetch typed by schema.d.ts,
 * which openapi-typescript generates from openapi/openapi.yaml
 * (`npm run generate`; tests/api/test_client.py fails when it is stale).
 * Every path, parameter, body and answer is checked by tsc --strict.
 */
import createClient, { type Client } from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type Problem = components["schemas"]["Problem"];
export type Customer = components["schemas"]["Customer"];
export type CrmClient = Client<paths>;

/* A client of the API at `baseUrl`, sending `token` when given. */
export function crmClient(baseUrl: string, token?: string): CrmClient {
	const headers: Record<string, string> = {};
	if (token !== undefined)
		headers["Authorization"] = `Bearer ${token}`;
	return createClient<paths>({ baseUrl, headers });
}

/* Log in and return the access token; throws the problem on failure. */
export async function logIn(baseUrl: string, email: string,
    password: string): Promise<string> {
	const { data, error } = await crmClient(baseUrl).POST("/v1/auth/login",
	    { body: { email, password } });
	if (error !== undefined)
		throw new Error(`login failed: ${error.status} ${error.detail}`);
	return data.access_token;
}
