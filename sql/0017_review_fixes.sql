-- 0017 fixes from the review of the sales modules (0011-0016). Migrations
-- are never edited once applied, so each fix replaces the functions and
-- policies it corrects here (CREATE OR REPLACE, ALTER/DROP + CREATE
-- POLICY); it runs after 0016 and before 0020, so it changes nothing of
-- 0020 and 0021 (their functions do not exist yet).

-- --- orders name only contracts the caller can see (0015, 0016) -------------

-- Field errors for the references and dates of an order body `b` (for
-- customer `p_customer`; `cur` the order being changed, or NULL). An
-- opportunity or a contract must be the customer's and one the caller can
-- see: one they cannot see answers exactly as one that does not exist
-- (no foreign-key error tells them apart).
CREATE OR REPLACE FUNCTION crm_order_refs(b jsonb, p_customer uuid,
    cur orders)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	errors	jsonb := '[]';
	od	date;
	dd	date;
BEGIN
	IF b->>'opportunity_id' IS NOT NULL AND NOT EXISTS (SELECT 1
	    FROM opportunities WHERE id = (b->>'opportunity_id')::uuid
	    AND customer_id = p_customer AND deleted_at IS NULL) THEN
		errors := errors || crm_field_error('opportunity_id',
		    'not_found', 'opportunity_id names no opportunity of this '
		    'customer that you can see.');
	END IF;
	IF b->>'contract_id' IS NOT NULL AND NOT EXISTS (SELECT 1
	    FROM contracts WHERE id = (b->>'contract_id')::uuid
	    AND customer_id = p_customer) THEN
		errors := errors || crm_field_error('contract_id',
		    'not_found', 'contract_id names no contract of this '
		    'customer that you can see.');
	END IF;
	od := CASE WHEN b ? 'order_date' THEN (b->>'order_date')::date
	    WHEN cur.id IS NOT NULL THEN cur.order_date ELSE current_date END;
	dd := CASE WHEN b ? 'due_date' THEN (b->>'due_date')::date
	    ELSE cur.due_date END;
	IF b ? 'currency' AND b->>'currency' !~ '^[A-Z]{3}$' THEN
		errors := errors || crm_field_error('currency', 'format',
		    'currency must be an ISO 4217 code such as CNY.');
	END IF;
	IF dd < od THEN
		errors := errors || crm_field_error('due_date', 'range',
		    'due_date cannot be before order_date.');
	END IF;
	RETURN errors;
END
$$;

-- --- task transfers: one locked step that keeps every rule (0013) -----------

-- The old crm_task_reassign(uuid, uuid) moved any task the caller could
-- change to anyone, whatever its status, and left the history to its
-- caller: granted to crm_app, it was a way round the transfer rules.
DROP FUNCTION crm_task_reassign(uuid, uuid);

-- Give task `p_id` to `p_to`, recording the transfer (with `p_note`) in
-- its history; the one way a task changes hands. Runs as the schema owner
-- because the new assignee may take the task out of the caller's sight,
-- which row-level security would refuse as a write of a row they cannot
-- read; so it applies every rule itself, whoever calls it: the task must
-- be one the bound caller may change (the tasks_update policy's verdict:
-- same organisation, they work on the assignee's or the creator's
-- records; 404 otherwise, exactly as for a task that does not exist),
-- open or in progress (409), and `p_to` an active user of the
-- organisation other than the assignee (422). The row is locked before
-- anything is checked, so concurrent transfers queue and each one sees
-- the assignee the one before it left (or no task at all, when that one
-- took it out of the caller's sight); a refused transfer writes nothing.
CREATE FUNCTION crm_task_reassign(p_id uuid, p_to uuid,
    p_note text DEFAULT NULL)
RETURNS tasks
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	cur	tasks;
	t	tasks;
BEGIN
	IF crm_org() IS NULL THEN
		PERFORM crm_raise('401', 'The credentials are invalid.');
	END IF;
	SELECT * INTO cur FROM tasks
	WHERE id = p_id AND org_id = crm_org() AND deleted_at IS NULL
	  AND (crm_mine(assignee_id) OR crm_mine(created_by))
	FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM crm_raise('404', 'The resource does not exist.');
	END IF;
	IF p_to IS NULL OR NOT EXISTS (SELECT 1 FROM users
	    WHERE id = p_to AND org_id = cur.org_id AND active) THEN
		PERFORM crm_raise_if(jsonb_build_array(crm_field_error(
		    'assignee_id', 'not_found', 'assignee_id names no active '
		    'user of this organization.')));
	END IF;
	IF p_to = cur.assignee_id THEN
		PERFORM crm_raise_if(jsonb_build_array(crm_field_error(
		    'assignee_id', 'unchanged', 'The task is already assigned '
		    'to this user.')));
	END IF;
	IF cur.status NOT IN ('open', 'in_progress') THEN
		PERFORM crm_raise('409', 'A ' || cur.status || ' task cannot '
		    'be transferred; reopen it first.');
	END IF;
	UPDATE tasks SET assignee_id = p_to WHERE id = p_id
	RETURNING * INTO t;
	INSERT INTO task_transfers (org_id, task_id, from_id, to_id, by_id,
	    note)
	VALUES (cur.org_id, cur.id, cur.assignee_id, p_to, crm_user(), p_note);
	RETURN t;
END
$$;
REVOKE ALL ON FUNCTION crm_task_reassign(uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_task_reassign(uuid, uuid, text) TO crm_app;

-- POST /v1/tasks/{id}/transfer {assignee_id, note?}: hand an open or
-- in-progress task to another active user (422 unknown, inactive or the
-- same assignee; 409 for a done or cancelled task; 404 for a task the
-- caller cannot see), recorded in the transfer history and the audit log,
-- all by crm_task_reassign. The answer is the task as it now is, even
-- when the new assignee takes it out of the caller's sight.
CREATE OR REPLACE FUNCTION api_tasks_transfer(p jsonb, p_id uuid, b jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN task_json(crm_task_reassign(p_id, (b->>'assignee_id')::uuid,
	    b->>'note'))::text;
END
$$;
