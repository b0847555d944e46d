-- 0013 activities and tasks (R23, R24): the API's statements for the
-- sales daily log (the activities table of 0010), tasks with their status
-- machine and transfer history, and the caller's agenda (overdue work,
-- what is due soon, reminders). Visibility is row-level security's:
-- activities by 0010's policies, tasks by the policies below; these
-- functions bind the caller, check what a request names and shape the
-- answers.

-- --- shared rules -----------------------------------------------------------

-- The organisation's local time zone: days of the daily log begin and end
-- at its midnight. Organisations have no time-zone setting yet; they are
-- all in China, so this is the one place to change when one arrives.
CREATE FUNCTION crm_org_timezone() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT 'Asia/Shanghai'::text
$$;

-- Check the records an activity or a task links and work out the links it
-- will have. `cur` holds its links so far ('{}' on create), `b` the
-- request body; keys of `b` replace those of `cur` (merge patch). Every
-- record `b` names must be one the caller can see (the same error whether
-- it does not exist, was deleted or is someone else's, so nothing leaks);
-- when `b` changes links, a contact or opportunity must belong to the
-- customer, and when no customer is named it is filled in from the
-- contact or the opportunity, so the customer's history shows the record.
-- `need_one`: at least one link.
-- Returns the links and the field errors (an empty array when none); the
-- caller raises them together with its own.
CREATE FUNCTION crm_links_check(cur jsonb, b jsonb, need_one boolean,
    OUT links jsonb, OUT errors jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	m	jsonb;
	cust	uuid;
	ct	uuid;
	op	uuid;
	ld	uuid;
	ct_cust	uuid;
	op_cust	uuid;
BEGIN
	errors := '[]';
	m := cur || coalesce((SELECT jsonb_object_agg(key, value)
	    FROM jsonb_each(b) WHERE key IN ('customer_id', 'contact_id',
	    'opportunity_id', 'lead_id')), '{}');
	cust := (m->>'customer_id')::uuid;
	ct := (m->>'contact_id')::uuid;
	op := (m->>'opportunity_id')::uuid;
	ld := (m->>'lead_id')::uuid;

	IF b->>'customer_id' IS NOT NULL AND NOT EXISTS (SELECT 1
	    FROM customers WHERE id = cust AND deleted_at IS NULL) THEN
		errors := errors || crm_field_error('customer_id', 'not_found',
		    'customer_id names no customer you can see.');
	END IF;
	IF ct IS NOT NULL THEN
		SELECT customer_id INTO ct_cust FROM contacts
		WHERE id = ct AND deleted_at IS NULL;
		IF NOT FOUND AND b->>'contact_id' IS NOT NULL THEN
			errors := errors || crm_field_error('contact_id',
			    'not_found', 'contact_id names no contact you can '
			    'see.');
		END IF;
	END IF;
	IF op IS NOT NULL THEN
		SELECT customer_id INTO op_cust FROM opportunities
		WHERE id = op AND deleted_at IS NULL;
		IF NOT FOUND AND b->>'opportunity_id' IS NOT NULL THEN
			errors := errors || crm_field_error('opportunity_id',
			    'not_found', 'opportunity_id names no opportunity '
			    'you can see.');
		END IF;
	END IF;
	IF b->>'lead_id' IS NOT NULL AND NOT EXISTS (SELECT 1 FROM leads
	    WHERE id = ld AND deleted_at IS NULL) THEN
		errors := errors || crm_field_error('lead_id', 'not_found',
		    'lead_id names no lead you can see.');
	END IF;

	-- Only a change of links is checked for consistency (a later move of
	-- a contact by a customer merge must not block unrelated edits).
	IF jsonb_array_length(errors) = 0 AND b ?| ARRAY['customer_id',
	    'contact_id', 'opportunity_id', 'lead_id'] THEN
		cust := coalesce(cust, ct_cust, op_cust);
		IF ct_cust IS DISTINCT FROM cust AND ct_cust IS NOT NULL THEN
			errors := errors || crm_field_error('contact_id',
			    'other_customer', 'contact_id is a contact of '
			    'another customer than customer_id.');
		END IF;
		IF op_cust IS DISTINCT FROM cust AND op_cust IS NOT NULL THEN
			errors := errors || crm_field_error('opportunity_id',
			    'other_customer', 'opportunity_id is an opportunity '
			    'of another customer than '
			    || CASE WHEN m->>'customer_id' IS NULL THEN
			    'the contact''s.' ELSE 'customer_id.' END);
		END IF;
	END IF;
	IF need_one AND cust IS NULL AND ct IS NULL AND op IS NULL AND
	    ld IS NULL THEN
		errors := errors || crm_field_error('customer_id', 'required',
		    'Link at least one of customer_id, contact_id, '
		    'opportunity_id, lead_id.');
	END IF;

	links := jsonb_build_object('customer_id', cust, 'contact_id', ct,
	    'opportunity_id', op, 'lead_id', ld);
END
$$;

-- The field error for `field` of `b` when it names no active user of the
-- caller's organisation (users are readable org-wide); else none.
CREATE FUNCTION crm_user_errors(b jsonb, field text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN b->>field IS NOT NULL AND NOT EXISTS (SELECT 1
	    FROM users WHERE id = (b->>field)::uuid AND active) THEN
	    jsonb_build_array(crm_field_error(field, 'not_found', field ||
	    ' names no active user of this organization.'))
	    ELSE '[]'::jsonb END
$$;

-- Raise every field error of `errors` at once (CR422), if any.
CREATE FUNCTION crm_raise_if(errors jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The request has invalid '
		    'fields; see errors.', errors);
	END IF;
END
$$;

-- A keyset cursor's id part, `<sort> <uuid>`, for list `sort`; 400 when
-- the cursor came from another list or sort.
CREATE FUNCTION crm_cursor_id(i text, sort text) RETURNS uuid
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF split_part(i, ' ', 1) IS DISTINCT FROM sort THEN
		RAISE EXCEPTION 'cursor of another sort';
	END IF;
	RETURN split_part(i, ' ', 2)::uuid;
EXCEPTION WHEN OTHERS THEN
	PERFORM crm_raise('400', 'The cursor is not valid for this list.');
	RETURN NULL;
END
$$;

-- --- activities (R23) -------------------------------------------------------

-- The public shape of an activity (also for the customer's 360° view).
CREATE FUNCTION activity_json(a activities) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', a.id, 'type', a.type,
	    'subject', a.subject, 'body', a.body, 'direction', a.direction,
	    'occurred_at', a.occurred_at,
	    'duration_minutes', a.duration_minutes, 'outcome', a.outcome,
	    'owner_id', a.owner_id, 'customer_id', a.customer_id,
	    'contact_id', a.contact_id, 'opportunity_id', a.opportunity_id,
	    'lead_id', a.lead_id, 'next_follow_up_at', a.next_follow_up_at,
	    'created_at', a.created_at, 'updated_at', a.updated_at,
	    'version', a.version)
$$;

-- Check the owner an activity body names (default: the caller): an active
-- user (422 among the field errors) whom the caller works for (403: reps
-- log for themselves and their team, managers for their team).
CREATE FUNCTION crm_activity_owner(b jsonb, errors jsonb) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
	errors := errors || crm_user_errors(b, 'owner_id');
	PERFORM crm_raise_if(errors);
	IF b->>'owner_id' IS NOT NULL AND
	    NOT crm_mine((b->>'owner_id')::uuid) THEN
		PERFORM crm_raise('403', 'You may log activities only for '
		    'yourself and the people in your team.');
	END IF;
END
$$;

-- POST /v1/activities. 422 lists every bad link and an unknown owner; 403
-- for an owner outside the caller's team.
CREATE FUNCTION api_activities_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	l	jsonb;
	e	jsonb;
	a	activities;
BEGIN
	PERFORM crm_bind(p);
	SELECT links, errors INTO l, e FROM crm_links_check('{}', b, true);
	PERFORM crm_activity_owner(b, e);
	INSERT INTO activities (org_id, owner_id, type, subject, body,
	    direction, occurred_at, duration_minutes, outcome, customer_id,
	    contact_id, opportunity_id, lead_id, next_follow_up_at)
	VALUES (crm_org(), coalesce((b->>'owner_id')::uuid, crm_user()),
	    b->>'type', b->>'subject', b->>'body', b->>'direction',
	    coalesce((b->>'occurred_at')::timestamptz, now()),
	    (b->>'duration_minutes')::integer, b->>'outcome',
	    (l->>'customer_id')::uuid, (l->>'contact_id')::uuid,
	    (l->>'opportunity_id')::uuid, (l->>'lead_id')::uuid,
	    (b->>'next_follow_up_at')::timestamptz)
	RETURNING * INTO a;
	RETURN activity_json(a)::text;
END
$$;

-- GET /v1/activities/{id}: NULL (404) when the caller cannot see it.
CREATE FUNCTION api_activities_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT activity_json(a) FROM activities a
	    WHERE id = p_id AND deleted_at IS NULL)::text;
END
$$;

-- The activity `p_id` the caller may change, for PATCH and DELETE: NULL
-- (404) when they cannot see it, 403 when they see it through its
-- customer only, 412 when If-Match names another version.
CREATE FUNCTION crm_activity_writable(p_id uuid, p_if_match integer)
RETURNS activities
LANGUAGE plpgsql STABLE AS $$
DECLARE
	cur	activities;
BEGIN
	SELECT * INTO cur FROM activities WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF NOT crm_mine(cur.owner_id) THEN
		PERFORM crm_raise('403', 'You may read this activity but not '
		    'change it.');
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The activity changed since you read '
		    'it (version ' || cur.version || ').');
	END IF;
	RETURN cur;
END
$$;

-- PATCH /v1/activities/{id}: JSON merge patch, If-Match optional. Links
-- the patch names are checked as on create, and the result must still
-- link something (422).
CREATE FUNCTION api_activities_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	activities;
	l	jsonb;
	e	jsonb;
	a	activities;
BEGIN
	PERFORM crm_bind(p);
	cur := crm_activity_writable(p_id, p_if_match);
	IF cur.id IS NULL THEN
		RETURN NULL;
	END IF;
	SELECT links, errors INTO l, e FROM crm_links_check(
	    jsonb_build_object('customer_id', cur.customer_id,
	    'contact_id', cur.contact_id, 'opportunity_id', cur.opportunity_id,
	    'lead_id', cur.lead_id), b, true);
	PERFORM crm_activity_owner(b, e);
	UPDATE activities SET
	    type = CASE WHEN b ? 'type' THEN b->>'type' ELSE type END,
	    subject = CASE WHEN b ? 'subject' THEN b->>'subject'
		ELSE subject END,
	    body = CASE WHEN b ? 'body' THEN b->>'body' ELSE body END,
	    direction = CASE WHEN b ? 'direction' THEN b->>'direction'
		ELSE direction END,
	    occurred_at = CASE WHEN b ? 'occurred_at' THEN
		(b->>'occurred_at')::timestamptz ELSE occurred_at END,
	    duration_minutes = CASE WHEN b ? 'duration_minutes' THEN
		(b->>'duration_minutes')::integer ELSE duration_minutes END,
	    outcome = CASE WHEN b ? 'outcome' THEN b->>'outcome'
		ELSE outcome END,
	    owner_id = CASE WHEN b ? 'owner_id' THEN (b->>'owner_id')::uuid
		ELSE owner_id END,
	    customer_id = (l->>'customer_id')::uuid,
	    contact_id = (l->>'contact_id')::uuid,
	    opportunity_id = (l->>'opportunity_id')::uuid,
	    lead_id = (l->>'lead_id')::uuid,
	    next_follow_up_at = CASE WHEN b ? 'next_follow_up_at' THEN
		(b->>'next_follow_up_at')::timestamptz ELSE next_follow_up_at END
	WHERE id = p_id
	RETURNING * INTO a;
	RETURN activity_json(a)::text;
END
$$;

-- DELETE /v1/activities/{id}: soft delete; If-Match optional.
CREATE FUNCTION api_activities_delete(p jsonb, p_id uuid, p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	activities;
BEGIN
	PERFORM crm_bind(p);
	cur := crm_activity_writable(p_id, p_if_match);
	IF cur.id IS NULL THEN
		RETURN NULL;
	END IF;
	UPDATE activities SET deleted_at = now() WHERE id = p_id;
	RETURN '{}';
END
$$;

-- GET /v1/activities: keyset pages, newest occurred_at first, with the
-- filters of f (checked by the server); q is a substring of the subject
-- or the body (Chinese included). 400 for a cursor of another list.
CREATE FUNCTION api_activities_list(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::integer, 50);
	q	text := lower(f->>'q');
	cur_t	timestamptz;
	cur_i	text;
	cur_id	uuid;
	rows	json;
	nxt	text;
BEGIN
	PERFORM crm_bind(p);
	IF f ? 'cursor' THEN
		SELECT t, i INTO cur_t, cur_i FROM crm_cursor_decode(f->>'cursor');
		cur_id := crm_cursor_id(cur_i, 'activities');
	END IF;
	WITH page AS (
		SELECT a, a.occurred_at, a.id, row_number() OVER (ORDER BY
		    a.occurred_at DESC, a.id DESC) AS n
		FROM activities a
		WHERE a.deleted_at IS NULL
		  AND (NOT f ? 'type' OR a.type = f->>'type')
		  AND (NOT f ? 'owner_id' OR a.owner_id = (f->>'owner_id')::uuid)
		  AND (NOT f ? 'customer_id' OR
		       a.customer_id = (f->>'customer_id')::uuid)
		  AND (NOT f ? 'contact_id' OR
		       a.contact_id = (f->>'contact_id')::uuid)
		  AND (NOT f ? 'opportunity_id' OR
		       a.opportunity_id = (f->>'opportunity_id')::uuid)
		  AND (NOT f ? 'lead_id' OR a.lead_id = (f->>'lead_id')::uuid)
		  AND (NOT f ? 'occurred_after' OR
		       a.occurred_at >= (f->>'occurred_after')::timestamptz)
		  AND (NOT f ? 'occurred_before' OR
		       a.occurred_at < (f->>'occurred_before')::timestamptz)
		  AND (q IS NULL OR strpos(lower(a.subject || ' ' ||
		       coalesce(a.body, '')), q) > 0)
		  AND (cur_t IS NULL OR (a.occurred_at, a.id) < (cur_t, cur_id))
		ORDER BY a.occurred_at DESC, a.id DESC
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(activity_json(page.a) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN (array_agg(crm_cursor_encode(
		page.occurred_at, 'activities ' || page.id))
		FILTER (WHERE n = lim))[1] END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- GET /v1/activities/daily-log (业务人员日志): one person's activities of
-- one day (default today) in the organisation's time zone, oldest first,
-- with the count and minutes per type and in total. The person defaults
-- to the caller; naming someone whose records the caller does not work on
-- (outside a manager's team, another rep) answers NULL (404) exactly as
-- for an id that names no user, so the log reveals nothing about them.
CREATE FUNCTION api_activities_daily_log(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	tz	text := crm_org_timezone();
	who	uuid;
	day	date;
	t0	timestamptz;
	t1	timestamptz;
	result	json;
BEGIN
	PERFORM crm_bind(p);
	who := coalesce((f->>'owner_id')::uuid, crm_user());
	IF NOT crm_mine(who) OR NOT EXISTS (SELECT 1 FROM users
	    WHERE id = who) THEN
		RETURN NULL;
	END IF;
	day := coalesce((f->>'date')::date, (now() AT TIME ZONE tz)::date);
	t0 := day::timestamp AT TIME ZONE tz;
	t1 := (day + 1)::timestamp AT TIME ZONE tz;
	WITH day_acts AS (
		SELECT a FROM activities a
		WHERE a.owner_id = who AND a.deleted_at IS NULL
		  AND a.occurred_at >= t0 AND a.occurred_at < t1
	), types AS (
		SELECT k.type, count((d.a).id) AS n,
		    coalesce(sum((d.a).duration_minutes), 0) AS minutes
		FROM unnest(ARRAY['call', 'email', 'meeting', 'visit',
		    'note']) WITH ORDINALITY AS k(type, pos)
		LEFT JOIN day_acts d ON (d.a).type = k.type
		GROUP BY k.type, k.pos
	)
	SELECT json_build_object('owner_id', who, 'date', day,
	    'timezone', tz, 'from', t0, 'to', t1,
	    'total', (SELECT json_build_object('count', sum(n)::integer,
		'duration_minutes', sum(minutes)::integer) FROM types),
	    'by_type', (SELECT json_object_agg(type, json_build_object(
		'count', n, 'duration_minutes', minutes)) FROM types),
	    'activities', coalesce((SELECT json_agg(activity_json(d.a)
		ORDER BY (d.a).occurred_at, (d.a).id) FROM day_acts d), '[]'))
	INTO result;
	RETURN result::text;
END
$$;

-- --- tasks (R24) ------------------------------------------------------------

-- Work assigned to a person: by its creator (any active user of the
-- organisation may be assigned: collaboration), handed on by a transfer,
-- with a due time, a reminder time and the records it is about.
CREATE TABLE tasks (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	description	text CHECK (length(description) <= 10000),
	assignee_id	uuid NOT NULL,
	created_by	uuid NOT NULL,
	due_at		timestamptz,
	remind_at	timestamptz,
	priority	text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low',
			    'normal', 'high', 'urgent')),
	status		text NOT NULL DEFAULT 'open' CHECK (status IN ('open',
			    'in_progress', 'done', 'cancelled')),
	-- Kept by the database (crm_task_completed).
	completed_at	timestamptz,
	customer_id	uuid,
	contact_id	uuid,
	opportunity_id	uuid,
	lead_id		uuid,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	deleted_at	timestamptz,
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, assignee_id) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, created_by) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
	FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id),
	FOREIGN KEY (org_id, opportunity_id)
	    REFERENCES opportunities (org_id, id),
	FOREIGN KEY (org_id, lead_id) REFERENCES leads (org_id, id),
	CHECK ((status = 'done') = (completed_at IS NOT NULL))
);
-- The agenda and a person's open work, by due time and by reminder.
CREATE INDEX tasks_assignee_due_idx ON tasks (org_id, assignee_id, due_at)
    WHERE deleted_at IS NULL AND status IN ('open', 'in_progress');
CREATE INDEX tasks_assignee_remind_idx ON tasks (org_id, assignee_id,
    remind_at) WHERE deleted_at IS NULL AND remind_at IS NOT NULL
    AND status IN ('open', 'in_progress');
CREATE INDEX tasks_org_page_idx ON tasks (org_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX tasks_created_by_idx ON tasks (org_id, created_by);
CREATE INDEX tasks_customer_idx ON tasks (org_id, customer_id)
    WHERE customer_id IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX tasks_opportunity_idx ON tasks (org_id, opportunity_id)
    WHERE opportunity_id IS NOT NULL;
CREATE INDEX tasks_lead_idx ON tasks (org_id, lead_id)
    WHERE lead_id IS NOT NULL;

-- completed_at: set when a task becomes done, cleared when it is reopened.
CREATE FUNCTION crm_task_completed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.status <> 'done' THEN
		NEW.completed_at := NULL;
	ELSIF TG_OP = 'INSERT' OR OLD.status <> 'done' THEN
		NEW.completed_at := now();
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER tasks_completed BEFORE INSERT OR UPDATE OF status ON tasks
	FOR EACH ROW EXECUTE FUNCTION crm_task_completed();

-- Who handed a task to whom, when, and why (R24: transfer).
CREATE TABLE task_transfers (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id		uuid NOT NULL,
	task_id		uuid NOT NULL,
	from_id		uuid NOT NULL,
	to_id		uuid NOT NULL,
	by_id		uuid NOT NULL,
	note		text CHECK (length(note) <= 500),
	at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	FOREIGN KEY (org_id, task_id) REFERENCES tasks (org_id, id),
	FOREIGN KEY (org_id, from_id) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, to_id) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, by_id) REFERENCES users (org_id, id)
);
CREATE INDEX task_transfers_task_idx ON task_transfers (org_id, task_id, id);

-- A task is visible to, and changeable by, whoever works on the records of
-- its assignee or of its creator (crm_mine: self, the team below, org-wide
-- roles). Only the creator's own inserts pass. The assignee is the one
-- column that decides visibility and can change (created_by and org_id
-- are not updatable), and only through a transfer, which may take the task
-- out of the transferring person's sight (crm_task_reassign).
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tasks_read ON tasks FOR SELECT
	USING (org_id = crm_org() AND (crm_mine(assignee_id) OR
	    crm_mine(created_by)));
CREATE POLICY tasks_insert ON tasks FOR INSERT
	WITH CHECK (org_id = crm_org() AND created_by = crm_user());
CREATE POLICY tasks_update ON tasks FOR UPDATE
	USING (org_id = crm_org() AND (crm_mine(assignee_id) OR
	    crm_mine(created_by)))
	WITH CHECK (org_id = crm_org() AND (crm_mine(assignee_id) OR
	    crm_mine(created_by)));
GRANT SELECT, INSERT ON tasks TO crm_app;
GRANT UPDATE (title, description, due_at, remind_at, priority, status,
    customer_id, contact_id, opportunity_id, lead_id, deleted_at)
    ON tasks TO crm_app;

-- Visible exactly when its task is; written by the person transferring,
-- while the task is still theirs to change.
ALTER TABLE task_transfers ENABLE ROW LEVEL SECURITY;
ALTER TABLE task_transfers FORCE ROW LEVEL SECURITY;
CREATE POLICY task_transfers_read ON task_transfers FOR SELECT
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM tasks t WHERE t.id = task_id));
CREATE POLICY task_transfers_insert ON task_transfers FOR INSERT
	WITH CHECK (org_id = crm_org() AND by_id = crm_user() AND EXISTS (
	    SELECT 1 FROM tasks t WHERE t.id = task_id
	    AND t.assignee_id = from_id));
GRANT SELECT, INSERT ON task_transfers TO crm_app;

CREATE TRIGGER tasks_touch BEFORE UPDATE ON tasks
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER tasks_audit AFTER INSERT OR UPDATE OR DELETE ON tasks
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- The public shape of a task (also for the customer's 360° view).
-- `overdue`: open or in progress and past its due time.
CREATE FUNCTION task_json(t tasks) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', t.id, 'title', t.title,
	    'description', t.description, 'assignee_id', t.assignee_id,
	    'created_by', t.created_by, 'due_at', t.due_at,
	    'remind_at', t.remind_at, 'priority', t.priority,
	    'status', t.status, 'completed_at', t.completed_at,
	    'overdue', coalesce(t.status IN ('open', 'in_progress') AND
		t.due_at < now(), false),
	    'customer_id', t.customer_id, 'contact_id', t.contact_id,
	    'opportunity_id', t.opportunity_id, 'lead_id', t.lead_id,
	    'created_at', t.created_at, 'updated_at', t.updated_at,
	    'version', t.version)
$$;

-- The statuses a task may move to from `status`.
CREATE FUNCTION crm_task_next(status text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE status
	    WHEN 'open' THEN ARRAY['in_progress', 'done', 'cancelled']
	    WHEN 'in_progress' THEN ARRAY['open', 'done', 'cancelled']
	    WHEN 'done' THEN ARRAY['open']
	    WHEN 'cancelled' THEN ARRAY['open'] END
$$;

-- POST /v1/tasks: the caller creates, the assignee defaults to them. 422
-- lists an unknown or inactive assignee and every bad link.
CREATE FUNCTION api_tasks_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	l	jsonb;
	e	jsonb;
	t	tasks;
BEGIN
	PERFORM crm_bind(p);
	SELECT links, errors INTO l, e FROM crm_links_check('{}', b, false);
	PERFORM crm_raise_if(crm_user_errors(b, 'assignee_id') || e);
	INSERT INTO tasks (org_id, title, description, assignee_id, created_by,
	    due_at, remind_at, priority, customer_id, contact_id,
	    opportunity_id, lead_id)
	VALUES (crm_org(), b->>'title', b->>'description',
	    coalesce((b->>'assignee_id')::uuid, crm_user()), crm_user(),
	    (b->>'due_at')::timestamptz, (b->>'remind_at')::timestamptz,
	    coalesce(b->>'priority', 'normal'),
	    (l->>'customer_id')::uuid, (l->>'contact_id')::uuid,
	    (l->>'opportunity_id')::uuid, (l->>'lead_id')::uuid)
	RETURNING * INTO t;
	RETURN task_json(t)::text;
END
$$;

-- GET /v1/tasks/{id}: NULL (404) when the caller cannot see it.
CREATE FUNCTION api_tasks_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT task_json(t) FROM tasks t
	    WHERE id = p_id AND deleted_at IS NULL)::text;
END
$$;

-- PATCH /v1/tasks/{id}: JSON merge patch, If-Match optional (412). A
-- status change follows the task's status machine (409 naming the
-- statuses allowed from the current one); the assignee changes only by a
-- transfer. Links as on create (422).
CREATE FUNCTION api_tasks_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	tasks;
	l	jsonb;
	e	jsonb;
	t	tasks;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM tasks WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The task changed since you read it '
		    '(version ' || cur.version || ').');
	END IF;
	IF b ? 'status' THEN
		PERFORM crm_transition_check('A task', cur.status,
		    b->>'status', crm_task_next(cur.status));
	END IF;
	SELECT links, errors INTO l, e FROM crm_links_check(
	    jsonb_build_object('customer_id', cur.customer_id,
	    'contact_id', cur.contact_id, 'opportunity_id', cur.opportunity_id,
	    'lead_id', cur.lead_id), b, false);
	PERFORM crm_raise_if(e);
	UPDATE tasks SET
	    title = CASE WHEN b ? 'title' THEN b->>'title' ELSE title END,
	    description = CASE WHEN b ? 'description' THEN b->>'description'
		ELSE description END,
	    due_at = CASE WHEN b ? 'due_at' THEN (b->>'due_at')::timestamptz
		ELSE due_at END,
	    remind_at = CASE WHEN b ? 'remind_at' THEN
		(b->>'remind_at')::timestamptz ELSE remind_at END,
	    priority = CASE WHEN b ? 'priority' THEN b->>'priority'
		ELSE priority END,
	    status = CASE WHEN b ? 'status' THEN b->>'status' ELSE status END,
	    customer_id = (l->>'customer_id')::uuid,
	    contact_id = (l->>'contact_id')::uuid,
	    opportunity_id = (l->>'opportunity_id')::uuid,
	    lead_id = (l->>'lead_id')::uuid
	WHERE id = p_id
	RETURNING * INTO t;
	RETURN task_json(t)::text;
END
$$;

-- DELETE /v1/tasks/{id}: soft delete; If-Match optional (412).
CREATE FUNCTION api_tasks_delete(p jsonb, p_id uuid, p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	tasks;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM tasks WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The task changed since you read it '
		    '(version ' || cur.version || ').');
	END IF;
	UPDATE tasks SET deleted_at = now() WHERE id = p_id;
	RETURN '{}';
END
$$;

-- Give task `p_id` to `p_to` and return it. Runs as the schema owner
-- because the new assignee may take the task out of the caller's sight,
-- which row-level security would refuse as a write of a row they cannot
-- read; so it repeats the tasks_update policy's verdict itself (same
-- organisation, the caller works on the assignee's or the creator's
-- records). The audit trigger records the change with the caller as the
-- actor. NULL when the caller may not change the task.
CREATE FUNCTION crm_task_reassign(p_id uuid, p_to uuid) RETURNS tasks
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	t	tasks;
BEGIN
	UPDATE tasks SET assignee_id = p_to
	WHERE id = p_id AND org_id = crm_org() AND deleted_at IS NULL
	  AND (crm_mine(assignee_id) OR crm_mine(created_by))
	RETURNING * INTO t;
	RETURN t;
END
$$;
REVOKE ALL ON FUNCTION crm_task_reassign(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_task_reassign(uuid, uuid) TO crm_app;

-- POST /v1/tasks/{id}/transfer {assignee_id, note?}: hand an open or
-- in-progress task to another active user (422 unknown, inactive or the
-- same assignee; 409 for a done or cancelled task), recorded in the
-- transfer history and the audit log. The answer is the task as it now
-- is, even when the new assignee takes it out of the caller's sight.
CREATE FUNCTION api_tasks_transfer(p jsonb, p_id uuid, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	tasks;
	t	tasks;
	dest	uuid := (b->>'assignee_id')::uuid;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM tasks WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	PERFORM crm_raise_if(crm_user_errors(b, 'assignee_id'));
	IF dest = cur.assignee_id THEN
		PERFORM crm_raise_fields('422', 'The request has invalid '
		    'fields; see errors.', jsonb_build_array(crm_field_error(
		    'assignee_id', 'unchanged', 'The task is already assigned '
		    'to this user.')));
	END IF;
	IF cur.status NOT IN ('open', 'in_progress') THEN
		PERFORM crm_raise('409', 'A ' || cur.status || ' task cannot '
		    'be transferred; reopen it first.');
	END IF;
	INSERT INTO task_transfers (org_id, task_id, from_id, to_id, by_id,
	    note)
	VALUES (cur.org_id, cur.id, cur.assignee_id, dest, crm_user(),
	    b->>'note');
	t := crm_task_reassign(p_id, dest);
	IF t.id IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN task_json(t)::text;
END
$$;

-- GET /v1/tasks/{id}/transfers: the task's transfer history, oldest
-- first; NULL (404) when the caller cannot see the task.
CREATE FUNCTION api_tasks_transfers(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM tasks WHERE id = p_id
	    AND deleted_at IS NULL) THEN
		RETURN NULL;
	END IF;
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    json_build_object('id', x.id, 'from_id', x.from_id,
		'to_id', x.to_id, 'by_id', x.by_id, 'note', x.note,
		'at', x.at) ORDER BY x.id)
	    FROM task_transfers x WHERE x.task_id = p_id), '[]'))::text;
END
$$;

-- GET /v1/tasks: keyset pages with the filters of f (checked by the
-- server) and a sort from a fixed list: due_at (soonest first, undated
-- last; the default), -due_at (latest first, undated last), -created_at.
-- overdue=true: open or in progress and past due; false: the others. 400
-- for a cursor of another list or sort.
CREATE FUNCTION api_tasks_list(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::integer, 50);
	sort	text := coalesce(f->>'sort', 'due_at');
	key	text;
	dir	text;
	cur_t	timestamptz;
	cur_i	text;
	cur_id	uuid;
	rows	json;
	nxt	text;
BEGIN
	PERFORM crm_bind(p);
	-- The sort key and direction come from this fixed list, never from
	-- the request's text; undated tasks sort last either way.
	key := CASE sort
	    WHEN 'due_at' THEN 'coalesce(t.due_at, ''infinity'')'
	    WHEN '-due_at' THEN 'coalesce(t.due_at, ''-infinity'')'
	    WHEN '-created_at' THEN 't.created_at' END;
	IF key IS NULL THEN
		PERFORM crm_raise('422', 'sort must be one of due_at, '
		    '-due_at, -created_at.');
	END IF;
	dir := CASE WHEN left(sort, 1) = '-' THEN 'DESC' ELSE 'ASC' END;
	IF f ? 'cursor' THEN
		SELECT t, i INTO cur_t, cur_i FROM crm_cursor_decode(f->>'cursor');
		cur_id := crm_cursor_id(cur_i, 'tasks:' || sort);
	END IF;
	EXECUTE format($q$
	WITH page AS (
		SELECT t, %1$s AS k, t.id, row_number() OVER (ORDER BY
		    %1$s %2$s, t.id %2$s) AS n
		FROM tasks t
		WHERE t.deleted_at IS NULL
		  AND (NOT $1 ? 'assignee_id' OR
		       t.assignee_id = ($1->>'assignee_id')::uuid)
		  AND (NOT $1 ? 'status' OR t.status = $1->>'status')
		  AND (NOT $1 ? 'priority' OR t.priority = $1->>'priority')
		  AND (NOT $1 ? 'due_before' OR
		       t.due_at < ($1->>'due_before')::timestamptz)
		  AND (NOT $1 ? 'due_after' OR
		       t.due_at >= ($1->>'due_after')::timestamptz)
		  AND (NOT $1 ? 'customer_id' OR
		       t.customer_id = ($1->>'customer_id')::uuid)
		  AND (NOT $1 ? 'opportunity_id' OR
		       t.opportunity_id = ($1->>'opportunity_id')::uuid)
		  AND (NOT $1 ? 'lead_id' OR
		       t.lead_id = ($1->>'lead_id')::uuid)
		  AND (NOT $1 ? 'overdue' OR
		       coalesce(t.status IN ('open', 'in_progress') AND
		       t.due_at < now(), false) = ($1->>'overdue')::boolean)
		  AND ($4::timestamptz IS NULL OR
		       (%1$s, t.id) %3$s ($4, $5::uuid))
		ORDER BY %1$s %2$s, t.id %2$s
		LIMIT $2 + 1
	)
	SELECT coalesce(json_agg(task_json(page.t) ORDER BY n)
		FILTER (WHERE n <= $2), '[]'),
	    CASE WHEN count(*) > $2 THEN (array_agg(crm_cursor_encode(page.k,
		$3 || ' ' || page.id)) FILTER (WHERE n = $2))[1] END
	FROM page
	$q$, key, dir, CASE dir WHEN 'DESC' THEN '<' ELSE '>' END)
	INTO rows, nxt
	USING f, lim, 'tasks:' || sort, cur_t, cur_id;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- --- the agenda (R23 follow-ups, R24 reminders) ------------------------------

-- GET /v1/me/agenda?days=N (1..90, default 7): the caller's own work, in
-- one statement, as three lists of items {kind, id, title, due_at,
-- remind_at, priority, status, customer_id, contact_id, opportunity_id,
-- lead_id}:
--   overdue   their open or in-progress tasks past due_at, and their
--             pending follow-ups past next_follow_up_at;
--   upcoming  the same, due from now to now + N days;
--   reminders their open or in-progress tasks whose remind_at has passed
--             (a task may be in two lists).
-- A follow-up (kind follow_up, the id is the activity's) is pending while
-- no later activity (occurred_at after it, anyone's the caller can see)
-- exists on the same opportunity, or else lead, or else customer: the
-- most specific record it is about. overdue and upcoming are ordered by
-- due time, reminders by reminder time. Follow-ups need activities:read
-- (API keys without it get tasks only).
CREATE FUNCTION api_me_agenda(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	ahead	integer := coalesce((f->>'days')::integer, 7);
	me	uuid;
	horizon	timestamptz;
	result	json;
BEGIN
	PERFORM crm_bind(p);
	me := crm_user();
	horizon := now() + make_interval(days => ahead);
	WITH items AS (
		SELECT 'task' AS kind, t.id, t.title, t.due_at, t.remind_at,
		    t.priority, t.status, t.customer_id, t.contact_id,
		    t.opportunity_id, t.lead_id
		FROM tasks t
		WHERE t.org_id = crm_org() AND t.assignee_id = me
		  AND t.deleted_at IS NULL
		  AND t.status IN ('open', 'in_progress')
		  AND (t.due_at < horizon OR t.remind_at <= now())
		UNION ALL
		SELECT 'follow_up', a.id, a.subject, a.next_follow_up_at, NULL,
		    NULL, NULL, a.customer_id, a.contact_id, a.opportunity_id,
		    a.lead_id
		FROM activities a
		WHERE crm_scope_ok('activities:read')
		  AND a.org_id = crm_org() AND a.owner_id = me
		  AND a.deleted_at IS NULL AND a.next_follow_up_at < horizon
		  AND NOT EXISTS (SELECT 1 FROM activities l
		      WHERE l.deleted_at IS NULL AND l.id <> a.id
		        AND l.occurred_at > a.occurred_at
		        AND CASE WHEN a.opportunity_id IS NOT NULL THEN
			    l.opportunity_id = a.opportunity_id
			    WHEN a.lead_id IS NOT NULL THEN l.lead_id = a.lead_id
			    ELSE l.customer_id = a.customer_id END)
	), shaped AS (
		SELECT i.due_at, i.remind_at, i.id, json_build_object(
		    'kind', i.kind, 'id', i.id, 'title', i.title,
		    'due_at', i.due_at, 'remind_at', i.remind_at,
		    'priority', i.priority, 'status', i.status,
		    'customer_id', i.customer_id, 'contact_id', i.contact_id,
		    'opportunity_id', i.opportunity_id, 'lead_id', i.lead_id)
		    AS item
		FROM items i
	)
	SELECT json_build_object('as_of', now(), 'days', ahead,
	    'overdue', coalesce(json_agg(s.item ORDER BY s.due_at, s.id)
		FILTER (WHERE s.due_at < now()), '[]'),
	    'upcoming', coalesce(json_agg(s.item ORDER BY s.due_at, s.id)
		FILTER (WHERE s.due_at >= now() AND s.due_at < horizon), '[]'),
	    'reminders', coalesce(json_agg(s.item ORDER BY s.remind_at, s.id)
		FILTER (WHERE s.remind_at <= now()), '[]'))
	INTO result
	FROM shaped s;
	RETURN result::text;
END
$$;
