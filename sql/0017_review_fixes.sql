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
