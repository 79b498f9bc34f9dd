-- The gateways' read access. GET /v1/orders/{ticket} falls back to the database when the gateway
-- has not heard how a purchase ended or no longer remembers the ticket (it restarted): it looks the
-- order up by request id. The gateway role may connect and execute find_order, nothing else (as
-- in 003_roles.sql, every statement tolerates other databases migrating at the same time).

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flashsale_gateway') THEN
    BEGIN
      CREATE ROLE flashsale_gateway LOGIN;  -- no password: it cannot log in until an operator sets one
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- created concurrently by the migration of another database
    END;
  END IF;
END;
$$;

-- The order of a request id, if one was written: no row otherwise (a purchase that ended sold out
-- or over the per-user limit leaves no order).
CREATE OR REPLACE FUNCTION find_order(p_request_id text)
RETURNS TABLE (order_id bigint, product text, user_id text, slot int)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
AS $$
  SELECT o.id, o.product, o.user_id, o.slot FROM purchase_order o WHERE o.request_id = p_request_id
$$;

REVOKE ALL ON FUNCTION find_order(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION find_order(text) TO flashsale_gateway;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM flashsale_gateway;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM flashsale_gateway;

DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO flashsale_gateway', current_database());
END;
$$;
