-- 0011 the API's statements for pipelines, their stages, opportunities
-- and the sales funnel (R21, R22), over the tables of 0010. Visibility is
-- row-level security's: everyone in the organisation reads its pipelines,
-- admins configure them; an opportunity is seen and changed by whoever
-- works on its owner's records (crm_mine). These functions bind the
-- caller, check what the policies cannot express (references, the stage
-- rules, legal transitions) and shape the answers.

-- --- schema ------------------------------------------------------------------

-- Stage positions are 1..n without gaps or twins (the API renumbers on
-- insert, move and delete). Deferrable so that one UPDATE can shift a
-- range of stages: checked at the end of the statement, not per row.
ALTER TABLE pipeline_stages ADD CONSTRAINT pipeline_stages_position_key
    UNIQUE (org_id, pipeline_id, position) DEFERRABLE INITIALLY IMMEDIATE;

-- --- shapes ------------------------------------------------------------------

-- The public shape of a stage.
CREATE FUNCTION stage_json(s pipeline_stages) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', s.id, 'pipeline_id', s.pipeline_id,
	    'name', s.name, 'position', s.position,
	    'probability', s.probability,
	    'forecast_category', s.forecast_category, 'kind', s.kind)
$$;

-- The public shape of a pipeline, with its stages in order.
CREATE FUNCTION pipeline_json(pl pipelines) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', pl.id, 'name', pl.name,
	    'is_default', pl.is_default, 'active', pl.active,
	    'stages', coalesce((SELECT json_agg(stage_json(s)
		ORDER BY s.position, s.id) FROM pipeline_stages s
		WHERE s.pipeline_id = pl.id), '[]'),
	    'created_at', pl.created_at, 'updated_at', pl.updated_at,
	    'version', pl.version)
$$;

-- The public shape of an opportunity: amounts as strings with two
-- decimals, the stage embedded (name, probability, kind), and the
-- weighted amount (amount x probability / 100, rounded half away from
-- zero to the cent). The customer 360 view lists these.
CREATE FUNCTION opportunity_json(o opportunities) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', o.id, 'name', o.name,
	    'customer_id', o.customer_id, 'contact_id', o.contact_id,
	    'owner_id', o.owner_id, 'pipeline_id', o.pipeline_id,
	    'stage_id', o.stage_id, 'stage', stage_json(s),
	    'status', o.status, 'amount', crm_money_text(o.amount),
	    'weighted_amount', crm_money_text(round(o.amount * s.probability /
		100.0, 2)),
	    'currency', o.currency,
	    'expected_close_date', o.expected_close_date, 'source', o.source,
	    'lead_id', o.lead_id, 'campaign_id', o.campaign_id,
	    'next_step', o.next_step, 'description', o.description,
	    'close_reason', o.close_reason, 'closed_at', o.closed_at,
	    'stage_changed_at', o.stage_changed_at,
	    'external_id', o.external_id, 'created_at', o.created_at,
	    'updated_at', o.updated_at, 'version', o.version)
	FROM (SELECT 1) one LEFT JOIN pipeline_stages s ON s.id = o.stage_id
$$;

-- --- stage rules -------------------------------------------------------------

-- The category rules of a stage (the CHECKs of 0010) as field errors named
-- `prefix` || field, so a client learns which value to fix: probability
-- 0-100; won = 100 and closed; lost = 0 and omitted; open = pipeline,
-- best_case or commit. NULL values were reported by the caller already.
CREATE FUNCTION crm_stage_rules(prefix text, kind text, prob integer,
    cat text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	errors	jsonb := '[]';
BEGIN
	IF prob NOT BETWEEN 0 AND 100 THEN
		errors := errors || crm_field_error(prefix || 'probability',
		    'range', 'probability must be from 0 to 100.');
	ELSIF kind = 'won' AND prob <> 100 THEN
		errors := errors || crm_field_error(prefix || 'probability',
		    'rule', 'A won stage has probability 100.');
	ELSIF kind = 'lost' AND prob <> 0 THEN
		errors := errors || crm_field_error(prefix || 'probability',
		    'rule', 'A lost stage has probability 0.');
	END IF;
	IF kind = 'won' AND cat <> 'closed' THEN
		errors := errors || crm_field_error(prefix ||
		    'forecast_category', 'rule',
		    'A won stage is in forecast category closed.');
	ELSIF kind = 'lost' AND cat <> 'omitted' THEN
		errors := errors || crm_field_error(prefix ||
		    'forecast_category', 'rule',
		    'A lost stage is in forecast category omitted.');
	ELSIF kind = 'open' AND cat NOT IN ('pipeline', 'best_case', 'commit')
	THEN
		errors := errors || crm_field_error(prefix ||
		    'forecast_category', 'rule', 'An open stage is in forecast '
		    'category pipeline, best_case or commit.');
	END IF;
	RETURN errors;
END
$$;

-- One stage as the API takes it (`s`: an element of POST /v1/pipelines'
-- `stages`, or a stage route's body), with the defaults filled in: kind
-- open; probability 100 for won, 0 for lost (required for open);
-- category closed, omitted, or pipeline. Every problem is a field error
-- named `prefix` || field; `stage` is {name, kind, probability,
-- forecast_category}.
CREATE FUNCTION crm_stage_input(prefix text, s jsonb, OUT stage jsonb,
    OUT errors jsonb)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	kind	text := coalesce(s->>'kind', 'open');
	prob	integer;
	cat	text;
BEGIN
	errors := '[]';
	IF jsonb_typeof(s->'name') IS DISTINCT FROM 'string' OR
	    length(s->>'name') NOT BETWEEN 1 AND 100 THEN
		errors := errors || crm_field_error(prefix || 'name',
		    CASE WHEN NOT s ? 'name' THEN 'required'
		    WHEN jsonb_typeof(s->'name') <> 'string' THEN 'type'
		    ELSE 'length' END,
		    'name is required: a string of 1 to 100 characters.');
	END IF;
	IF s ? 'kind' AND (jsonb_typeof(s->'kind') <> 'string' OR
	    NOT s->>'kind' IN ('open', 'won', 'lost')) THEN
		errors := errors || crm_field_error(prefix || 'kind', 'enum',
		    'kind must be open, won or lost.');
		kind := NULL;
	END IF;
	IF NOT s ? 'probability' THEN
		prob := CASE kind WHEN 'won' THEN 100 WHEN 'lost' THEN 0 END;
		IF kind = 'open' THEN
			errors := errors || crm_field_error(prefix ||
			    'probability', 'required',
			    'probability is required for an open stage.');
		END IF;
	ELSIF jsonb_typeof(s->'probability') = 'number' AND
	    s->>'probability' ~ '^-?[0-9]{1,6}$' THEN
		prob := (s->>'probability')::integer;
	ELSE
		errors := errors || crm_field_error(prefix || 'probability',
		    'type', 'probability must be an integer from 0 to 100.');
	END IF;
	IF NOT s ? 'forecast_category' THEN
		cat := CASE kind WHEN 'won' THEN 'closed' WHEN 'lost' THEN
		    'omitted' ELSE 'pipeline' END;
	ELSIF jsonb_typeof(s->'forecast_category') = 'string' AND
	    s->>'forecast_category' IN ('pipeline', 'best_case', 'commit',
	    'closed', 'omitted') THEN
		cat := s->>'forecast_category';
	ELSE
		errors := errors || crm_field_error(prefix ||
		    'forecast_category', 'enum', 'forecast_category must be '
		    'pipeline, best_case, commit, closed or omitted.');
	END IF;
	errors := errors || crm_stage_rules(prefix, kind, prob, cat);
	stage := jsonb_build_object('name', s->>'name', 'kind', kind,
	    'probability', prob, 'forecast_category', cat);
END
$$;

-- A pipeline's representation includes its stages: a stage change makes
-- a new version of the pipeline (a new ETag). crm_touch does the rest;
-- the audit trigger records nothing for a row whose only change is that.
CREATE FUNCTION crm_pipeline_touch(p_id uuid) RETURNS void
LANGUAGE sql AS $$
	UPDATE pipelines SET updated_at = now() WHERE id = p_id
$$;

-- Serialise changes to one pipeline's stages (positions are renumbered
-- from what was read). Only admins get here: locking a row needs the
-- UPDATE policy.
CREATE FUNCTION crm_pipeline_lock(p_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM pipelines WHERE id = p_id FOR UPDATE;
END
$$;

-- --- pipelines -----------------------------------------------------------

-- GET /v1/pipelines: every pipeline of the organisation, the default
-- first, then by name, each with its stages.
CREATE FUNCTION api_pipelines_list(p jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    pipeline_json(pl) ORDER BY pl.is_default DESC, pl.name, pl.id)
	    FROM pipelines pl), '[]'))::text;
END
$$;

-- GET /v1/pipelines/{id}; NULL (404) for one of another organisation.
CREATE FUNCTION api_pipelines_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT pipeline_json(pl) FROM pipelines pl
	    WHERE id = p_id)::text;
END
$$;

-- POST /v1/pipelines {name, is_default?, stages} (admin; 403 otherwise).
-- The stages, in the order given (positions 1..n), must include at least
-- one open stage and exactly one won and one lost stage, with distinct
-- names and the category rules: every problem is a 422 field error
-- (`stages[2].probability`). A name in use is a 409. is_default takes the
-- default flag from the current default pipeline.
CREATE FUNCTION api_pipelines_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	errors	jsonb := '[]';
	stages	jsonb := '[]';
	r	record;
	one	record;
	k	text;
	pl	pipelines;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	FOR r IN SELECT t.s, t.i - 1 AS i
	    FROM jsonb_array_elements(b->'stages') WITH ORDINALITY AS t(s, i)
	LOOP
		FOR k IN SELECT jsonb_object_keys(r.s) LOOP
			IF k NOT IN ('name', 'kind', 'probability',
			    'forecast_category') THEN
				errors := errors || crm_field_error(format(
				    'stages[%s].%s', r.i, k), 'unknown_field',
				    format('''%s'' is not a field of a stage.',
				    k));
			END IF;
		END LOOP;
		one := crm_stage_input(format('stages[%s].', r.i), r.s);
		errors := errors || one.errors;
		IF EXISTS (SELECT 1 FROM jsonb_array_elements(stages) x
		    WHERE x->>'name' = one.stage->>'name') THEN
			errors := errors || crm_field_error(format(
			    'stages[%s].name', r.i), 'duplicate',
			    'Two stages of a pipeline cannot share a name.');
		END IF;
		stages := stages || jsonb_build_array(one.stage);
	END LOOP;
	IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(stages) x
	    WHERE x->>'kind' = 'open') OR
	    (SELECT count(*) FROM jsonb_array_elements(stages) x
	    WHERE x->>'kind' = 'won') <> 1 OR
	    (SELECT count(*) FROM jsonb_array_elements(stages) x
	    WHERE x->>'kind' = 'lost') <> 1 THEN
		errors := errors || crm_field_error('stages', 'structure',
		    'A pipeline needs at least one open stage, exactly one '
		    'won stage and exactly one lost stage.');
	END IF;
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The pipeline is invalid; see '
		    'errors.', errors);
	END IF;
	IF EXISTS (SELECT 1 FROM pipelines WHERE name = b->>'name') THEN
		PERFORM crm_raise('409', 'A pipeline with this name already '
		    'exists.');
	END IF;

	IF coalesce((b->>'is_default')::boolean, false) THEN
		UPDATE pipelines SET is_default = false WHERE is_default;
	END IF;
	INSERT INTO pipelines (org_id, name, is_default)
	VALUES (crm_org(), b->>'name', coalesce((b->>'is_default')::boolean,
	    false) OR NOT EXISTS (SELECT 1 FROM pipelines WHERE is_default))
	RETURNING * INTO pl;
	INSERT INTO pipeline_stages (org_id, pipeline_id, name, position,
	    probability, forecast_category, kind)
	SELECT crm_org(), pl.id, t.s->>'name', t.i,
	    (t.s->>'probability')::integer, t.s->>'forecast_category',
	    t.s->>'kind'
	FROM jsonb_array_elements(stages) WITH ORDINALITY AS t(s, i);
	RETURN pipeline_json(pl)::text;
END
$$;

-- PATCH /v1/pipelines/{id} {name?, is_default?, active?} (admin), If-Match
-- optional. 404 unknown, 403 not an admin, 412 stale, 409 for a name in
-- use and for leaving the organisation without a usable default: the
-- default flag moves only by setting it on another pipeline, and the
-- default pipeline cannot be deactivated.
CREATE FUNCTION api_pipelines_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	pipelines;
	pl	pipelines;
	def	boolean;
	act	boolean;
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM pipelines WHERE id = p_id) THEN
		RETURN NULL;
	END IF;
	PERFORM crm_require_role('admin');
	SELECT * INTO cur FROM pipelines WHERE id = p_id FOR UPDATE;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The pipeline changed since you read '
		    'it (version ' || cur.version || ').');
	END IF;
	def := coalesce((b->>'is_default')::boolean, cur.is_default);
	act := coalesce((b->>'active')::boolean, cur.active);
	IF cur.is_default AND NOT def THEN
		PERFORM crm_raise('409', 'The default pipeline stays the '
		    'default until another pipeline is made the default '
		    '(is_default true on that one).');
	END IF;
	IF def AND NOT act THEN
		PERFORM crm_raise('409', CASE WHEN cur.is_default THEN
		    'The default pipeline cannot be deactivated; make another '
		    'pipeline the default first.' ELSE 'An inactive pipeline '
		    'cannot become the default; activate it (active true) in '
		    'the same change.' END);
	END IF;
	IF b ? 'name' AND EXISTS (SELECT 1 FROM pipelines
	    WHERE name = b->>'name' AND id <> p_id) THEN
		PERFORM crm_raise('409', 'A pipeline with this name already '
		    'exists.');
	END IF;
	IF def AND NOT cur.is_default THEN
		UPDATE pipelines SET is_default = false WHERE is_default;
	END IF;
	UPDATE pipelines SET
	    name = coalesce(b->>'name', name),
	    is_default = def,
	    active = act
	WHERE id = p_id
	RETURNING * INTO pl;
	RETURN pipeline_json(pl)::text;
END
$$;

-- --- stages ------------------------------------------------------------------

-- POST /v1/pipelines/{id}/stages {name, kind?, probability?,
-- forecast_category?, position?} (admin). The new stage goes to
-- `position` (the stages from there move down one), by default right
-- after the last open stage. The category rules, a second won or lost
-- stage and a position past the end are 422 field errors; a name in use
-- in the pipeline is a 409; 404 for an unknown pipeline.
CREATE FUNCTION api_pipeline_stages_create(p jsonb, p_pipeline uuid, b jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	one	record;
	n	integer;
	pos	integer;
	s	pipeline_stages;
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM pipelines WHERE id = p_pipeline) THEN
		RETURN NULL;
	END IF;
	PERFORM crm_require_role('admin');
	PERFORM crm_pipeline_lock(p_pipeline);
	one := crm_stage_input('', b);
	SELECT count(*) INTO n FROM pipeline_stages
	WHERE pipeline_id = p_pipeline;
	IF one.stage->>'kind' IN ('won', 'lost') AND EXISTS (SELECT 1
	    FROM pipeline_stages WHERE pipeline_id = p_pipeline
	    AND kind = one.stage->>'kind') THEN
		one.errors := one.errors || crm_field_error('kind', 'structure',
		    format('The pipeline already has its %s stage; a pipeline '
		    'has exactly one.', one.stage->>'kind'));
	END IF;
	IF (b->>'position')::integer > n + 1 THEN
		one.errors := one.errors || crm_field_error('position', 'range',
		    format('position must be from 1 to %s.', n + 1));
	END IF;
	IF jsonb_array_length(one.errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The stage is invalid; see '
		    'errors.', one.errors);
	END IF;
	IF EXISTS (SELECT 1 FROM pipeline_stages WHERE pipeline_id = p_pipeline
	    AND name = b->>'name') THEN
		PERFORM crm_raise('409', 'The pipeline already has a stage '
		    'with this name.');
	END IF;
	IF n >= 100 THEN
		PERFORM crm_raise('409', 'A pipeline has at most 100 stages.');
	END IF;

	pos := coalesce((b->>'position')::integer, CASE WHEN
	    one.stage->>'kind' = 'open' THEN (SELECT max(position) + 1
	    FROM pipeline_stages WHERE pipeline_id = p_pipeline
	    AND kind = 'open') END, n + 1);
	UPDATE pipeline_stages SET position = position + 1
	WHERE pipeline_id = p_pipeline AND position >= pos;
	INSERT INTO pipeline_stages (org_id, pipeline_id, name, position,
	    probability, forecast_category, kind)
	VALUES (crm_org(), p_pipeline, one.stage->>'name', pos,
	    (one.stage->>'probability')::integer,
	    one.stage->>'forecast_category', one.stage->>'kind')
	RETURNING * INTO s;
	PERFORM crm_pipeline_touch(p_pipeline);
	RETURN stage_json(s)::text;
END
$$;

-- PATCH /v1/pipelines/{id}/stages/{stage_id} {name?, probability?,
-- forecast_category?, position?} (admin). The kind never changes (the
-- opportunities in the stage carry it as their status). A new position
-- moves the stages in between by one. The category rules and a position
-- past the end are 422 field errors; a name in use is a 409; 404 for a
-- stage that is not one of this pipeline's. History keeps the
-- probability each move had at the time.
CREATE FUNCTION api_pipeline_stages_update(p jsonb, p_pipeline uuid,
    p_stage uuid, b jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	pipeline_stages;
	s	pipeline_stages;
	errors	jsonb;
	n	integer;
	prob	integer;
	cat	text;
	pos	integer;
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM pipeline_stages WHERE id = p_stage
	    AND pipeline_id = p_pipeline) THEN
		RETURN NULL;
	END IF;
	PERFORM crm_require_role('admin');
	PERFORM crm_pipeline_lock(p_pipeline);
	SELECT * INTO cur FROM pipeline_stages WHERE id = p_stage;
	prob := coalesce((b->>'probability')::integer, cur.probability);
	cat := coalesce(b->>'forecast_category', cur.forecast_category);
	pos := coalesce((b->>'position')::integer, cur.position);
	errors := crm_stage_rules('', cur.kind, prob, cat);
	SELECT count(*) INTO n FROM pipeline_stages
	WHERE pipeline_id = p_pipeline;
	IF pos > n THEN
		errors := errors || crm_field_error('position', 'range',
		    format('position must be from 1 to %s.', n));
	END IF;
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The stage is invalid; see '
		    'errors.', errors);
	END IF;
	IF b ? 'name' AND EXISTS (SELECT 1 FROM pipeline_stages
	    WHERE pipeline_id = p_pipeline AND name = b->>'name'
	    AND id <> p_stage) THEN
		PERFORM crm_raise('409', 'The pipeline already has a stage '
		    'with this name.');
	END IF;

	-- One statement: the stage and the ones it passes, so the unique
	-- positions hold at its end.
	UPDATE pipeline_stages SET
	    position = CASE WHEN id = p_stage THEN pos
		WHEN pos < cur.position THEN position + 1
		ELSE position - 1 END,
	    name = CASE WHEN id = p_stage THEN coalesce(b->>'name', name)
		ELSE name END,
	    probability = CASE WHEN id = p_stage THEN prob ELSE probability END,
	    forecast_category = CASE WHEN id = p_stage THEN cat
		ELSE forecast_category END
	WHERE pipeline_id = p_pipeline AND (id = p_stage OR position
	    BETWEEN least(pos, cur.position) AND greatest(pos, cur.position));
	SELECT * INTO s FROM pipeline_stages WHERE id = p_stage;
	PERFORM crm_pipeline_touch(p_pipeline);
	RETURN stage_json(s)::text;
END
$$;

-- DELETE /v1/pipelines/{id}/stages/{stage_id} (admin). 409 when an
-- opportunity is in the stage or passed through it (its history would
-- lose a step; the answer says how many), for the won and the lost stage
-- (a pipeline keeps one of each), and for the last open stage. The stages
-- after it move up one. 404 for a stage that is not one of this
-- pipeline's.
CREATE FUNCTION api_pipeline_stages_delete(p jsonb, p_pipeline uuid,
    p_stage uuid)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	pipeline_stages;
	used	bigint;
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM pipeline_stages WHERE id = p_stage
	    AND pipeline_id = p_pipeline) THEN
		RETURN NULL;
	END IF;
	PERFORM crm_require_role('admin');
	PERFORM crm_pipeline_lock(p_pipeline);
	SELECT * INTO cur FROM pipeline_stages WHERE id = p_stage;
	IF cur.kind <> 'open' THEN
		PERFORM crm_raise('409', format('The %s stage cannot be '
		    'deleted: a pipeline keeps exactly one won and one lost '
		    'stage.', cur.kind));
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pipeline_stages
	    WHERE pipeline_id = p_pipeline AND kind = 'open'
	    AND id <> p_stage) THEN
		PERFORM crm_raise('409', 'The last open stage cannot be '
		    'deleted: a pipeline needs at least one.');
	END IF;
	-- Admins see every opportunity of the organisation, deleted ones
	-- included: all of them keep their history.
	SELECT count(*) INTO used FROM (
		SELECT id FROM opportunities
		WHERE org_id = crm_org() AND stage_id = p_stage
		UNION
		SELECT opportunity_id FROM opportunity_stage_history
		WHERE org_id = crm_org() AND (to_stage_id = p_stage OR
		    from_stage_id = p_stage)) x;
	IF used > 0 THEN
		PERFORM crm_raise('409', format('The stage cannot be deleted: '
		    '%s %s it (now or in their stage history).', used,
		    CASE WHEN used = 1 THEN 'opportunity uses'
		    ELSE 'opportunities use' END));
	END IF;
	DELETE FROM pipeline_stages WHERE id = p_stage;
	UPDATE pipeline_stages SET position = position - 1
	WHERE pipeline_id = p_pipeline AND position > cur.position;
	PERFORM crm_pipeline_touch(p_pipeline);
	RETURN '{}';
END
$$;

-- --- opportunities -----------------------------------------------------------

-- `o` with the fields of the merge patch (or create body) `b` applied.
-- The C layer has checked each value's type and format.
CREATE FUNCTION crm_opportunity_merge(o opportunities, b jsonb)
RETURNS opportunities
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF b ? 'name' THEN
		o.name := b->>'name';
	END IF;
	IF b ? 'customer_id' THEN
		o.customer_id := (b->>'customer_id')::uuid;
	END IF;
	IF b ? 'contact_id' THEN
		o.contact_id := (b->>'contact_id')::uuid;
	END IF;
	IF b ? 'pipeline_id' THEN
		o.pipeline_id := (b->>'pipeline_id')::uuid;
	END IF;
	IF b ? 'stage_id' THEN
		o.stage_id := (b->>'stage_id')::uuid;
	END IF;
	IF b ? 'amount' THEN
		o.amount := (b->>'amount')::numeric;
	END IF;
	IF b ? 'currency' THEN
		o.currency := b->>'currency';
	END IF;
	IF b ? 'expected_close_date' THEN
		o.expected_close_date := (b->>'expected_close_date')::date;
	END IF;
	IF b ? 'owner_id' THEN
		o.owner_id := (b->>'owner_id')::uuid;
	END IF;
	IF b ? 'source' THEN
		o.source := b->>'source';
	END IF;
	IF b ? 'lead_id' THEN
		o.lead_id := (b->>'lead_id')::uuid;
	END IF;
	IF b ? 'campaign_id' THEN
		o.campaign_id := (b->>'campaign_id')::uuid;
	END IF;
	IF b ? 'next_step' THEN
		o.next_step := b->>'next_step';
	END IF;
	IF b ? 'description' THEN
		o.description := b->>'description';
	END IF;
	IF b ? 'external_id' THEN
		o.external_id := b->>'external_id';
	END IF;
	RETURN o;
END
$$;

-- The open stages of a pipeline, in order, for messages.
CREATE FUNCTION crm_open_stage_names(p_pipeline uuid) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT string_agg(name, ', ' ORDER BY position, id)
	FROM pipeline_stages WHERE pipeline_id = p_pipeline AND kind = 'open'
$$;

-- Check what an opportunity `n` would reference, against what it does
-- now (`cur`; all NULL on create), changed references only:
-- the customer one the caller can see (the same words whether it does
-- not exist or is someone else's), the contact one of that customer, the
-- pipeline an active one, the stage one of that pipeline (given whenever
-- the pipeline changes), the owner an active user, the lead one the
-- caller can see, the currency ISO 4217 style. Every problem is a 422
-- field error; then an owner outside the caller's team (for reps and
-- managers) is a 403.
CREATE FUNCTION crm_opportunity_check(cur opportunities, n opportunities,
    b jsonb)
RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
	errors	jsonb := '[]';
	pl_ok	boolean := true;
BEGIN
	IF n.customer_id IS DISTINCT FROM cur.customer_id AND NOT EXISTS (
	    SELECT 1 FROM customers WHERE id = n.customer_id
	    AND deleted_at IS NULL) THEN
		errors := errors || crm_field_error('customer_id', 'not_found',
		    'customer_id names no customer you can see.');
	END IF;
	IF n.contact_id IS NOT NULL AND (n.contact_id IS DISTINCT FROM
	    cur.contact_id OR n.customer_id IS DISTINCT FROM cur.customer_id)
	    AND NOT EXISTS (SELECT 1 FROM contacts WHERE id = n.contact_id
	    AND customer_id = n.customer_id AND deleted_at IS NULL) THEN
		errors := errors || crm_field_error('contact_id', 'not_found',
		    'contact_id names no contact of the opportunity''s '
		    'customer.');
	END IF;
	IF n.pipeline_id IS DISTINCT FROM cur.pipeline_id THEN
		IF NOT EXISTS (SELECT 1 FROM pipelines WHERE id = n.pipeline_id
		    AND active) THEN
			pl_ok := false;
			errors := errors || crm_field_error('pipeline_id',
			    'not_found', 'pipeline_id names no active '
			    'pipeline.');
		ELSIF cur.id IS NOT NULL AND NOT b ? 'stage_id' THEN
			pl_ok := false;
			errors := errors || crm_field_error('stage_id',
			    'required', 'stage_id is required when '
			    'pipeline_id changes: name a stage of the new '
			    'pipeline.');
		END IF;
	END IF;
	IF pl_ok AND (n.stage_id IS DISTINCT FROM cur.stage_id OR
	    n.pipeline_id IS DISTINCT FROM cur.pipeline_id) THEN
		IF NOT EXISTS (SELECT 1 FROM pipeline_stages
		    WHERE id = n.stage_id AND pipeline_id = n.pipeline_id) THEN
			errors := errors || crm_field_error('stage_id',
			    'not_found', 'stage_id names no stage of the '
			    'pipeline.');
		ELSIF cur.id IS NULL AND NOT EXISTS (SELECT 1
		    FROM pipeline_stages WHERE id = n.stage_id
		    AND kind = 'open') THEN
			errors := errors || crm_field_error('stage_id', 'state',
			    'An opportunity starts in an open stage ('
			    || crm_open_stage_names(n.pipeline_id) || '); '
			    'close it with POST /v1/opportunities/{id}/win or '
			    '/lose.');
		END IF;
	END IF;
	IF n.owner_id IS DISTINCT FROM cur.owner_id AND NOT EXISTS (
	    SELECT 1 FROM users WHERE id = n.owner_id AND active) THEN
		errors := errors || crm_field_error('owner_id', 'not_found',
		    'owner_id names no active user of this organization.');
	END IF;
	IF n.lead_id IS NOT NULL AND n.lead_id IS DISTINCT FROM cur.lead_id
	    AND NOT EXISTS (SELECT 1 FROM leads WHERE id = n.lead_id
	    AND deleted_at IS NULL) THEN
		errors := errors || crm_field_error('lead_id', 'not_found',
		    'lead_id names no lead you can see.');
	END IF;
	IF n.currency IS DISTINCT FROM cur.currency AND
	    n.currency !~ '^[A-Z]{3}$' THEN
		errors := errors || crm_field_error('currency', 'format',
		    'currency is an ISO 4217 code: three capital letters, '
		    'e.g. CNY.');
	END IF;
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The opportunity has invalid '
		    'fields; see errors.', errors);
	END IF;
	IF n.owner_id IS DISTINCT FROM cur.owner_id AND
	    NOT crm_mine(n.owner_id) THEN
		PERFORM crm_raise('403', 'Only managers and admins assign '
		    'records to people outside their team.');
	END IF;
END
$$;

-- Refuse an illegal status change of an opportunity with 409 naming the
-- allowed ones: open goes to won or lost, won and lost go back to open
-- (reopen); asking for the status it has is refused too.
CREATE FUNCTION crm_opportunity_transition(cur text, want text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	allowed	text[] := CASE cur WHEN 'open' THEN ARRAY['won', 'lost']
		    ELSE ARRAY['open'] END;
BEGIN
	IF cur = want THEN
		PERFORM crm_raise('409', format('The opportunity is already '
		    '%s; allowed from %s: %s.', cur, cur,
		    array_to_string(allowed, ', ')));
	END IF;
	PERFORM crm_transition_check('The opportunity', cur, want, allowed);
END
$$;

-- POST /v1/opportunities: the pipeline defaults to the organisation's
-- default, the stage to the pipeline's first open stage, the owner to
-- the caller, the currency to CNY. Fails as crm_opportunity_check says;
-- 409 for an external_id in use.
CREATE FUNCTION api_opportunities_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	n	opportunities;
	o	opportunities;
BEGIN
	PERFORM crm_bind(p);
	n := crm_opportunity_merge(NULL::opportunities, b);
	n.owner_id := coalesce(n.owner_id, crm_user());
	n.currency := coalesce(n.currency, 'CNY');
	IF n.pipeline_id IS NULL THEN
		SELECT id INTO n.pipeline_id FROM pipelines WHERE is_default;
	END IF;
	IF n.stage_id IS NULL THEN
		SELECT id INTO n.stage_id FROM pipeline_stages
		WHERE pipeline_id = n.pipeline_id AND kind = 'open'
		ORDER BY position, id LIMIT 1;
	END IF;
	PERFORM crm_opportunity_check(NULL::opportunities, n, b);
	BEGIN
		INSERT INTO opportunities (org_id, owner_id, customer_id,
		    contact_id, name, pipeline_id, stage_id, amount, currency,
		    expected_close_date, source, lead_id, campaign_id,
		    next_step, description, external_id)
		VALUES (crm_org(), n.owner_id, n.customer_id, n.contact_id,
		    n.name, n.pipeline_id, n.stage_id, n.amount, n.currency,
		    n.expected_close_date, n.source, n.lead_id, n.campaign_id,
		    n.next_step, n.description, n.external_id)
		RETURNING * INTO o;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'An opportunity with this external_id '
		    'already exists.');
	END;
	RETURN opportunity_json(o)::text;
END
$$;

-- GET /v1/opportunities/{id}
CREATE FUNCTION api_opportunities_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT opportunity_json(o) FROM opportunities o
	    WHERE id = p_id AND deleted_at IS NULL)::text;
END
$$;

-- PATCH /v1/opportunities/{id}: JSON merge patch; If-Match optional.
-- 404 unseen, 412 stale. An open opportunity moves freely among its
-- pipeline's open stages; a closed stage is reached only by /win or
-- /lose (409 naming the open stages). A won or lost one changes neither
-- stage, pipeline nor amount until reopened (409). A new pipeline needs
-- a stage of it. Otherwise as crm_opportunity_check; 409 for an
-- external_id in use.
CREATE FUNCTION api_opportunities_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	opportunities;
	n	opportunities;
	o	opportunities;
	k	text;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM opportunities
	WHERE id = p_id AND deleted_at IS NULL FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The opportunity changed since you '
		    'read it (version ' || cur.version || ').');
	END IF;
	n := crm_opportunity_merge(cur, b);
	IF cur.status <> 'open' AND (n.stage_id IS DISTINCT FROM cur.stage_id
	    OR n.pipeline_id IS DISTINCT FROM cur.pipeline_id OR
	    n.amount IS DISTINCT FROM cur.amount OR
	    n.currency IS DISTINCT FROM cur.currency) THEN
		PERFORM crm_raise('409', format('The opportunity is %s: its '
		    'stage, pipeline and amount change only after it is '
		    'reopened; allowed from %s: open (POST '
		    '/v1/opportunities/{id}/reopen).', cur.status,
		    cur.status));
	END IF;
	PERFORM crm_opportunity_check(cur, n, b);
	IF n.stage_id IS DISTINCT FROM cur.stage_id THEN
		SELECT kind INTO k FROM pipeline_stages WHERE id = n.stage_id;
		IF k <> 'open' THEN
			PERFORM crm_raise('409', format('An open opportunity '
			    'moves by PATCH among open stages only (%s); '
			    'allowed from open: won (POST '
			    '/v1/opportunities/{id}/win), lost (POST '
			    '/v1/opportunities/{id}/lose).',
			    crm_open_stage_names(n.pipeline_id)));
		END IF;
	END IF;
	BEGIN
		UPDATE opportunities SET name = n.name,
		    customer_id = n.customer_id, contact_id = n.contact_id,
		    pipeline_id = n.pipeline_id, stage_id = n.stage_id,
		    amount = n.amount, currency = n.currency,
		    expected_close_date = n.expected_close_date,
		    owner_id = n.owner_id, source = n.source,
		    lead_id = n.lead_id, campaign_id = n.campaign_id,
		    next_step = n.next_step, description = n.description,
		    external_id = n.external_id
		WHERE id = p_id
		RETURNING * INTO o;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'An opportunity with this external_id '
		    'already exists.');
	END;
	RETURN opportunity_json(o)::text;
END
$$;

-- DELETE /v1/opportunities/{id}: soft delete; If-Match optional. 404
-- unseen, 412 stale. The stage history stays (funnels no longer count
-- the opportunity).
CREATE FUNCTION api_opportunities_delete(p jsonb, p_id uuid,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	opportunities;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM opportunities
	WHERE id = p_id AND deleted_at IS NULL FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The opportunity changed since you '
		    'read it (version ' || cur.version || ').');
	END IF;
	UPDATE opportunities SET deleted_at = now() WHERE id = p_id;
	RETURN '{}';
END
$$;

-- The common body of /win and /lose: move an open opportunity to its
-- pipeline's `want` (won or lost) stage with the reason of `b`; the
-- triggers of 0010 set status and closed_at and write the history. NULL
-- (404) unseen, 412 stale, 409 from any status but open (naming the
-- allowed ones). The caller is bound.
CREATE FUNCTION crm_opportunity_close(p_id uuid, b jsonb, p_if_match integer,
    want text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	opportunities;
	o	opportunities;
BEGIN
	SELECT * INTO cur FROM opportunities
	WHERE id = p_id AND deleted_at IS NULL FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The opportunity changed since you '
		    'read it (version ' || cur.version || ').');
	END IF;
	PERFORM crm_opportunity_transition(cur.status, want);
	UPDATE opportunities SET close_reason = b->>'reason',
	    stage_id = (SELECT id FROM pipeline_stages
		WHERE pipeline_id = cur.pipeline_id AND kind = want
		ORDER BY position, id LIMIT 1)
	WHERE id = p_id
	RETURNING * INTO o;
	RETURN opportunity_json(o)::text;
END
$$;

-- POST /v1/opportunities/{id}/win {reason?}: as crm_opportunity_close.
CREATE FUNCTION api_opportunities_win(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN crm_opportunity_close(p_id, b, p_if_match, 'won');
END
$$;

-- POST /v1/opportunities/{id}/lose {reason}: as crm_opportunity_close
-- (the server refuses a missing reason with 422 before this runs).
CREATE FUNCTION api_opportunities_lose(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN crm_opportunity_close(p_id, b, p_if_match, 'lost');
END
$$;

-- POST /v1/opportunities/{id}/reopen {stage_id?}: a won or lost
-- opportunity goes back to an open stage of its pipeline: `stage_id`, or
-- the last open stage it was in (by its history), or the first open
-- stage; the close reason is cleared. 404 unseen, 412 stale, 409 when it
-- is open, 422 (stage_id) for a stage that is not an open stage of the
-- pipeline.
CREATE FUNCTION api_opportunities_reopen(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	opportunities;
	o	opportunities;
	st	uuid := (b->>'stage_id')::uuid;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM opportunities
	WHERE id = p_id AND deleted_at IS NULL FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The opportunity changed since you '
		    'read it (version ' || cur.version || ').');
	END IF;
	PERFORM crm_opportunity_transition(cur.status, 'open');
	IF st IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pipeline_stages
	    WHERE id = st AND pipeline_id = cur.pipeline_id AND kind = 'open')
	THEN
		PERFORM crm_raise_fields('422', 'The opportunity cannot reopen '
		    'there; see errors.', jsonb_build_array(crm_field_error(
		    'stage_id', 'not_found', 'stage_id names no open stage of '
		    'the opportunity''s pipeline (' ||
		    crm_open_stage_names(cur.pipeline_id) || ').')));
	END IF;
	st := coalesce(st, (SELECT h.to_stage_id
	    FROM opportunity_stage_history h
	    JOIN pipeline_stages s ON s.id = h.to_stage_id
	    WHERE h.opportunity_id = p_id AND s.pipeline_id = cur.pipeline_id
	    AND s.kind = 'open'
	    ORDER BY h.id DESC LIMIT 1), (SELECT id FROM pipeline_stages
	    WHERE pipeline_id = cur.pipeline_id AND kind = 'open'
	    ORDER BY position, id LIMIT 1));
	UPDATE opportunities SET stage_id = st, close_reason = NULL
	WHERE id = p_id
	RETURNING * INTO o;
	RETURN opportunity_json(o)::text;
END
$$;

-- GET /v1/opportunities/{id}/history: the stage changes, oldest first,
-- with the stages' current names, the probability and amount at the
-- time, who and when, and how long the opportunity had stayed in the
-- stage it left (seconds; null for the first entry). NULL (404) unseen.
CREATE FUNCTION api_opportunities_history(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM opportunities WHERE id = p_id
	    AND deleted_at IS NULL) THEN
		RETURN NULL;
	END IF;
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    json_build_object('from_stage_id', h.from_stage_id,
		'from_stage_name', fs.name, 'to_stage_id', h.to_stage_id,
		'to_stage_name', ts.name, 'to_stage_kind', ts.kind,
		'probability', h.probability,
		'amount', crm_money_text(h.amount),
		'changed_by', h.changed_by, 'changed_at', h.changed_at,
		'seconds_in_previous_stage', round(h.secs, 3))
	    ORDER BY h.id)
	    FROM (SELECT x.*, extract(epoch FROM x.changed_at -
		lag(x.changed_at) OVER (ORDER BY x.id)) AS secs
		FROM opportunity_stage_history x
		WHERE x.opportunity_id = p_id) h
	    LEFT JOIN pipeline_stages fs ON fs.id = h.from_stage_id
	    LEFT JOIN pipeline_stages ts ON ts.id = h.to_stage_id),
	    '[]'))::text;
END
$$;

-- --- lists -------------------------------------------------------------------

-- GET /v1/opportunities: a page of the opportunities the caller can see.
-- Filters of f (checked by the server): owner_id, customer_id,
-- pipeline_id, stage_id, status, close_after (inclusive) and
-- close_before (exclusive) on expected_close_date, q (substring of the
-- name, CJK included). Sorts from a whitelist, each with a keyset cursor
-- over (key, id); undated opportunities come last in both date orders.
-- 400 for a cursor that is not one of this sort's.
CREATE FUNCTION api_opportunities_list(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 50);
	sort	text := coalesce(f->>'sort', '-created_at');
	dir	text;
	key	text;
	typ	text;
	cond	text := 'o.deleted_at IS NULL';
	cur	jsonb;
	rows	json;
	nxt	text;
	n	integer;
BEGIN
	PERFORM crm_bind(p);
	dir := CASE WHEN left(sort, 1) = '-' THEN 'DESC' ELSE 'ASC' END;
	-- Sort keys are fixed expressions, never user text.
	CASE ltrim(sort, '-')
	WHEN 'created_at' THEN
		key := 'o.created_at';
		typ := 'timestamptz';
	WHEN 'amount' THEN
		key := 'o.amount';
		typ := 'numeric';
	WHEN 'expected_close_date' THEN
		key := CASE dir WHEN 'ASC' THEN
		    'coalesce(o.expected_close_date, ''infinity''::date)' ELSE
		    'coalesce(o.expected_close_date, ''-infinity''::date)' END;
		typ := 'date';
	ELSE
		PERFORM crm_raise('422', 'sort must be one of created_at, '
		    'amount, expected_close_date, each optionally with a '
		    'leading -.');
	END CASE;

	IF f ? 'owner_id' THEN
		cond := cond || ' AND o.owner_id = ($1->>''owner_id'')::uuid';
	END IF;
	IF f ? 'customer_id' THEN
		cond := cond ||
		    ' AND o.customer_id = ($1->>''customer_id'')::uuid';
	END IF;
	IF f ? 'pipeline_id' THEN
		cond := cond ||
		    ' AND o.pipeline_id = ($1->>''pipeline_id'')::uuid';
	END IF;
	IF f ? 'stage_id' THEN
		cond := cond || ' AND o.stage_id = ($1->>''stage_id'')::uuid';
	END IF;
	IF f ? 'status' THEN
		cond := cond || ' AND o.status = $1->>''status''';
	END IF;
	IF f ? 'close_after' THEN
		cond := cond || ' AND o.expected_close_date >= '
		    '($1->>''close_after'')::date';
	END IF;
	IF f ? 'close_before' THEN
		cond := cond || ' AND o.expected_close_date < '
		    '($1->>''close_before'')::date';
	END IF;
	IF f ? 'q' THEN
		cond := cond || ' AND strpos(lower(o.name), lower($1->>''q'')) '
		    '> 0';
	END IF;
	-- Row-level security decides; this repeats its verdict as plain
	-- conditions (the bound caller's values, never input) so that a
	-- rep's page can walk the owner index.
	cond := cond || format(' AND o.org_id = %L::uuid', crm_org());
	IF NOT crm_org_wide() THEN
		cond := cond || CASE WHEN cardinality(crm_team()) = 1 THEN
		    format(' AND o.owner_id = %L::uuid', (crm_team())[1])
		    ELSE format(' AND o.owner_id = ANY (%L::uuid[])',
		    crm_team()) END;
	END IF;

	IF f ? 'cursor' THEN
		BEGIN
			cur := convert_from(decode(translate(f->>'cursor',
			    '-_', '+/') || repeat('=', (4 - length(f->>'cursor')
			    % 4) % 4), 'base64'), 'UTF8')::jsonb;
			IF cur->>'s' IS DISTINCT FROM sort OR
			    (cur->>'id')::uuid IS NULL OR cur->>'k' IS NULL
			THEN
				RAISE EXCEPTION 'cursor of another sort';
			END IF;
			EXECUTE format('SELECT ($1->>''k'')::%s', typ)
			USING cur;
		EXCEPTION WHEN OTHERS THEN
			PERFORM crm_raise('400', 'The cursor is not valid for '
			    'this list.');
		END;
		cond := cond || format(' AND (%s, o.id) %s (($2->>''k'')::%s, '
		    '($2->>''id'')::uuid)', key,
		    CASE dir WHEN 'DESC' THEN '<' ELSE '>' END, typ);
	END IF;

	-- One statement: the page, whether there is more, and the cursor
	-- (sort key and id of the page's last row).
	EXECUTE format('SELECT coalesce(json_agg(opportunity_json(c.r) '
	    'ORDER BY c.n) FILTER (WHERE c.n <= $3), ''[]''), count(*), '
	    '(array_agg(jsonb_build_object(''s'', $4::text, ''k'', c.k, '
	    '''id'', (c.r).id)) FILTER (WHERE c.n = $3))[1] '
	    'FROM (SELECT o AS r, %1$s AS k, row_number() OVER (ORDER BY '
	    '%1$s %2$s, o.id %2$s) AS n FROM opportunities o WHERE %3$s '
	    'ORDER BY %1$s %2$s, o.id %2$s LIMIT $3 + 1) c', key, dir, cond)
	INTO rows, n, cur USING f, cur, lim, sort;

	IF n > lim THEN
		nxt := translate(encode(convert_to(cur::text, 'UTF8'),
		    'base64'), E'+/=\n', '-_');
	END IF;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- --- the funnel (R22) --------------------------------------------------------

-- GET /v1/opportunities/funnel?pipeline_id=&owner_id=&created_after=
-- &created_before=: one row per stage of the pipeline (default: the
-- organisation's default), in position order, over the opportunities the
-- caller can see that are in the pipeline, not deleted, and match the
-- filters (owner; created_at >= created_after, < created_before):
--   count, amount: those currently in the stage (for an open stage, its
--     open opportunities; for the won and lost stages, the closed ones);
--   weighted_amount: round(amount x probability / 100, 2), half away
--     from zero; the totals add up the open stages' rounded figures;
--   reached (open and won stages): how many were ever, by their stage
--     history, in a stage of this pipeline at this position or later,
--     the lost stage excluded;
--   advanced (open stages): how many of those reached the next stage
--     (the next position, the lost stage skipped);
--   conversion_rate: advanced / reached, 4 decimals, null when nothing
--     reached the stage or no stage follows.
-- One statement; row-level security makes a rep's funnel theirs, a
-- manager's their team's, an admin's the organisation's. 422
-- (pipeline_id) for a pipeline the caller's organisation does not have.
CREATE FUNCTION api_opportunities_funnel(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF f ? 'pipeline_id' AND NOT EXISTS (SELECT 1 FROM pipelines
	    WHERE id = (f->>'pipeline_id')::uuid) THEN
		PERFORM crm_raise_fields('422', 'The funnel query is invalid; '
		    'see errors.', jsonb_build_array(crm_field_error(
		    'pipeline_id', 'not_found', 'pipeline_id names no pipeline '
		    'of this organization.')));
	END IF;
	RETURN (
	WITH pl AS (
		SELECT * FROM pipelines
		WHERE CASE WHEN f ? 'pipeline_id' THEN
		    id = (f->>'pipeline_id')::uuid ELSE is_default END
	), st AS (
		SELECT s.*, (SELECT min(x.position) FROM pipeline_stages x
		    WHERE x.pipeline_id = s.pipeline_id AND x.kind <> 'lost'
		    AND x.position > s.position) AS next_position
		FROM pipeline_stages s JOIN pl ON s.pipeline_id = pl.id
	), opp AS (
		SELECT o.id, o.stage_id, o.amount
		FROM opportunities o JOIN pl ON o.pipeline_id = pl.id
		WHERE o.deleted_at IS NULL
		  AND (NOT f ? 'owner_id' OR
		       o.owner_id = (f->>'owner_id')::uuid)
		  AND (NOT f ? 'created_after' OR
		       o.created_at >= (f->>'created_after')::timestamptz)
		  AND (NOT f ? 'created_before' OR
		       o.created_at < (f->>'created_before')::timestamptz)
	), reach AS (
		SELECT h.opportunity_id, max(s.position) AS top
		FROM opportunity_stage_history h
		JOIN opp ON opp.id = h.opportunity_id
		JOIN st s ON s.id = h.to_stage_id AND s.kind <> 'lost'
		GROUP BY h.opportunity_id
	), rows AS (
		SELECT s.*, x.cnt, x.amt,
		    round(x.amt * s.probability / 100.0, 2) AS weighted,
		    CASE WHEN s.kind <> 'lost' THEN (SELECT count(*) FROM reach
			WHERE reach.top >= s.position) END AS reached,
		    CASE WHEN s.kind = 'open' AND s.next_position IS NOT NULL
			THEN (SELECT count(*) FROM reach
			WHERE reach.top >= s.next_position) END AS advanced
		FROM st s, LATERAL (SELECT count(opp.id) AS cnt,
		    coalesce(sum(opp.amount), 0) AS amt FROM opp
		    WHERE opp.stage_id = s.id) x
	)
	SELECT json_build_object(
	    'pipeline', json_build_object('id', pl.id, 'name', pl.name),
	    'stages', coalesce((SELECT json_agg(json_build_object(
		'stage_id', r.id, 'name', r.name, 'position', r.position,
		'probability', r.probability,
		'forecast_category', r.forecast_category, 'kind', r.kind,
		'count', r.cnt, 'amount', crm_money_text(r.amt),
		'weighted_amount', crm_money_text(r.weighted),
		'reached', r.reached, 'advanced', r.advanced,
		'conversion_rate', CASE WHEN r.reached > 0 AND
		    r.advanced IS NOT NULL THEN round(r.advanced::numeric /
		    r.reached, 4)::text END)
		ORDER BY r.position, r.id) FROM rows r), '[]'),
	    'totals', (SELECT json_build_object('count',
		coalesce(sum(r.cnt), 0),
		'amount', crm_money_text(coalesce(sum(r.amt), 0)),
		'weighted_amount', crm_money_text(coalesce(sum(r.weighted),
		0))) FROM rows r WHERE r.kind = 'open'))
	FROM pl)::text;
END
$$;
