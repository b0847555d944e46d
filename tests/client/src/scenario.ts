/*
 * An end-to-end scenario through the generated client, against a running
 * server (tests/api/test_client.py runs it against the test stack):
 * log in, create a customer with Chinese text, read it back with its
 * ETag, patch it with If-Match (and see a stale one refused), list with a
 * cursor, and see a 404 problem for another rep's record. Configured by
 * the environment: CRM_API (base URL), CRM_EMAIL / CRM_PASSWORD (a rep),
 * CRM_OTHER_EMAIL / CRM_OTHER_PASSWORD (another rep). Prints one JSON
 * line of what it saw; exits 1 at the first surprise.
 */
import { crmClient, logIn, type Customer, type Problem } from "./client.js";

function env(name: string): string {
	const v = process.env[name];
	if (v === undefined || v === "")
		throw new Error(`${name} is not set`);
	return v;
}

function expect(cond: boolean, what: string): asserts cond {
	if (!cond)
		throw new Error(`expected: ${what}`);
}

async function main(): Promise<void> {
	const base = env("CRM_API");
	const me = crmClient(base, await logIn(base, env("CRM_EMAIL"),
	    env("CRM_PASSWORD")));
	const other = crmClient(base, await logIn(base, env("CRM_OTHER_EMAIL"),
	    env("CRM_OTHER_PASSWORD")));
	const tag = Math.random().toString(36).slice(2, 10);

	// Create: 201, Location, the Chinese text as sent.
	const name = `成都锦江文化传媒有限公司-${tag}`;
	const made = await me.POST("/v1/customers", { body: {
	    name, city: "成都", tags: ["书展", "重点"],
	    notes: "客户要求：发票抬头用全称「成都锦江文化传媒有限公司」。" } });
	expect(made.data !== undefined, `201, got ${made.response.status}`);
	const created: Customer = made.data;
	expect(made.response.status === 201, "status 201");
	expect(made.response.headers.get("location") ===
	    `/v1/customers/${created.id}`, "Location of the new customer");
	expect(created.name === name && created.city === "成都",
	    "the name and city as sent");

	// Read back: the same record, its version as the ETag.
	const got = await me.GET("/v1/customers/{id}",
	    { params: { path: { id: created.id } } });
	expect(got.data !== undefined, "200 on GET");
	const etag = got.response.headers.get("etag");
	expect(etag === `"${got.data.version}"`, "ETag is the version");
	expect(got.data.notes === created.notes, "notes read back intact");

	// Patch with If-Match: the version moves on; the old ETag is stale.
	const patched = await me.PATCH("/v1/customers/{id}", {
	    params: { path: { id: created.id }, header: { "If-Match": etag } },
	    body: { grade: "A", notes: "已确认：年度重点客户。" } });
	expect(patched.data !== undefined, "200 on PATCH");
	expect(patched.data.grade === "A" &&
	    patched.data.version === got.data.version + 1, "patched");
	const stale = await me.PATCH("/v1/customers/{id}", {
	    params: { path: { id: created.id }, header: { "If-Match": etag } },
	    body: { grade: "B" } });
	expect(stale.error !== undefined && stale.response.status === 412,
	    "412 for a stale If-Match");
	const staleProblem: Problem = stale.error;
	expect(staleProblem.type === "urn:crm:problem:precondition-failed",
	    "a precondition-failed problem");

	// List with a cursor: two pages of one, no record twice.
	const first = await me.GET("/v1/customers",
	    { params: { query: { limit: 1, q: tag } } });
	expect(first.data !== undefined, "200 on the list");
	const cursor = first.data.next_cursor;
	expect(first.data.data.length === 1 && first.data.data[0]?.id ===
	    created.id, "the new customer found by q");
	const all = await me.GET("/v1/customers",
	    { params: { query: { limit: 1, sort: "name" } } });
	expect(all.data !== undefined && typeof all.data.next_cursor ===
	    "string", "a next page");
	const next = await me.GET("/v1/customers", { params: { query: {
	    limit: 1, sort: "name", cursor: all.data.next_cursor ?? "" } } });
	expect(next.data !== undefined && next.data.data.length === 1 &&
	    next.data.data[0]?.id !== all.data.data[0]?.id,
	    "the second page holds another customer");

	// Another rep's customer: a 404 problem, as if it did not exist.
	const theirs = await other.POST("/v1/customers",
	    { body: { name: `重庆渝中书业有限公司-${tag}` } });
	expect(theirs.data !== undefined, "the other rep's customer made");
	const hidden = await me.GET("/v1/customers/{id}",
	    { params: { path: { id: theirs.data.id } } });
	expect(hidden.error !== undefined && hidden.response.status === 404,
	    "404 for another rep's customer");
	const problem: Problem = hidden.error;
	expect(problem.type === "urn:crm:problem:not-found" &&
	    problem.status === 404 && problem.request_id ===
	    hidden.response.headers.get("x-request-id"), "a 404 problem");
	expect(hidden.response.headers.get("content-type")?.startsWith(
	    "application/problem+json") === true, "as application/problem+json");

	console.log(JSON.stringify({ created: created.id, name,
	    version: patched.data.version, etag, cursor: cursor ?? null,
	    hidden: theirs.data.id, problem: problem.type }));
}

main().catch((e: unknown) => {
	console.error(e instanceof Error ? e.message : String(e));
	process.exit(1);
});
