-- Fencing a gone gateway (issue 12): once a gateway's session is gone, what it claimed but did
-- not sell goes back to the live gateways without an operator. The database is where that becomes
-- safe: fence_gateway(g, e) makes every later purchase of gateway g stamped with a claim epoch
-- <= e fail (status 'fenced'), and returns what g has sold, per product, at that moment. Nothing
-- of those epochs can be added afterwards, so the quota leader may lower g's grant to exactly that
-- and re-grant the rest (docs/design.md, "Live quotas", has the whole argument).
--
-- Every purchase of the writers goes through purchase_batch_fenced, which takes, before anything
-- else, a shared transaction-level advisory lock per gateway of the batch (ascending gateway
-- order) and then reads the gateway's fence; fence_gateway takes the same lock exclusively. So a
-- purchase of g either commits before the fence is raised (and is counted by it) or reads the new
-- fence (and is refused): there is no third order. The lock comes before step 1 of the lock order
-- in 004_orders.sql and fence_gateway takes no other lock, so no wait cycle can form. The
-- single-bigint advisory key space is separate from the two-integer one purchase_batch uses.

CREATE TABLE IF NOT EXISTS gateway_fence (
  gateway      text        PRIMARY KEY,
  fenced_epoch bigint      NOT NULL CHECK (fenced_epoch >= 0),
  fenced_at    timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON gateway_fence FROM PUBLIC;
REVOKE ALL ON gateway_fence FROM flashsale_writer;

-- The advisory lock key of a gateway's fence.
CREATE OR REPLACE FUNCTION gateway_fence_key(p_gateway text) RETURNS bigint
LANGUAGE sql IMMUTABLE
AS $$ SELECT (1179403647::bigint << 32) | (hashtext(p_gateway)::bigint & 4294967295) $$;

-- purchase_batch (004_orders.sql) for purchases that carry the claim epoch they were admitted
-- under (p_epochs, parallel to the other arrays; a gateway's epochs start at 1, and 0 marks a
-- purchase that names none, which any fence of its gateway stops). Answers like purchase_batch,
-- plus status 'fenced' (order_id and slot NULL) for a purchase whose gateway was fenced at or above
-- its epoch and whose request id has no order: it took no unit.
CREATE OR REPLACE FUNCTION purchase_batch_fenced(p_product text, p_request_ids text[],
                                                 p_user_ids text[], p_gateways text[],
                                                 p_epochs bigint[])
RETURNS TABLE (idx int, status text, order_id bigint, slot int)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
  n        int := coalesce(cardinality(p_request_ids), 0);
  v_keep   int[];  -- indexes (1-based) of the requests no fence stops, in order
  v_fenced boolean[];
BEGIN
  IF p_epochs IS NULL OR array_ndims(p_epochs) > 1 OR coalesce(cardinality(p_epochs), 0) <> n THEN
    RAISE EXCEPTION 'purchase_batch_fenced: % request ids but % epochs (must be equal)',
      n, coalesce(cardinality(p_epochs), 0) USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF coalesce(cardinality(p_gateways), 0) <> n OR array_position(p_gateways, NULL) IS NOT NULL
     OR array_position(p_epochs, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'purchase_batch_fenced: % request ids, % gateways (must be equal, not NULL)',
      n, coalesce(cardinality(p_gateways), 0) USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- The fence locks, shared, in ascending gateway order.
  PERFORM pg_advisory_xact_lock_shared(gateway_fence_key(g))
     FROM (SELECT DISTINCT g FROM unnest(p_gateways) AS t(g) ORDER BY g) AS d;
  -- A request that already has an order is not fenced: it was written before the fence (and is in
  -- its count), and a redelivery answers duplicate_request as always.
  SELECT array_agg(coalesce(t.e <= f.fenced_epoch, false)
                   AND NOT EXISTS (SELECT 1 FROM purchase_order o WHERE o.request_id = t.r)
                   ORDER BY t.i)
    INTO v_fenced
    FROM unnest(p_request_ids, p_gateways, p_epochs) WITH ORDINALITY AS t(r, g, e, i)
    LEFT JOIN gateway_fence f ON f.gateway = t.g;
  IF n = 0 OR NOT (true = ANY (v_fenced)) THEN
    RETURN QUERY SELECT b.idx, b.status, b.order_id, b.slot
                   FROM purchase_batch(p_product, p_request_ids, p_user_ids, p_gateways) AS b;
    RETURN;
  END IF;
  SELECT array_agg(t.i ORDER BY t.i) INTO v_keep
    FROM unnest(v_fenced) WITH ORDINALITY AS t(f, i) WHERE NOT t.f;
  IF v_keep IS NULL THEN
    RETURN QUERY SELECT t.i::int, 'fenced'::text, NULL::bigint, NULL::int
                   FROM generate_series(1, n) AS t(i);
    RETURN;
  END IF;
  RETURN QUERY
    WITH kept AS (
      SELECT b.idx, b.status, b.order_id, b.slot
        FROM purchase_batch(p_product,
                            ARRAY(SELECT p_request_ids[k] FROM unnest(v_keep) WITH ORDINALITY AS u(k, o) ORDER BY o),
                            ARRAY(SELECT p_user_ids[k] FROM unnest(v_keep) WITH ORDINALITY AS u(k, o) ORDER BY o),
                            ARRAY(SELECT p_gateways[k] FROM unnest(v_keep) WITH ORDINALITY AS u(k, o) ORDER BY o)) AS b
    )
    SELECT t.i::int,
           CASE WHEN t.f THEN 'fenced' ELSE kept.status END,
           kept.order_id, kept.slot
      FROM unnest(v_fenced) WITH ORDINALITY AS t(f, i)
      LEFT JOIN unnest(v_keep) WITH ORDINALITY AS u(k, o) ON u.k = t.i
      LEFT JOIN kept ON kept.idx = u.o
     ORDER BY t.i;
END;
$$;

-- Raises the fence of p_gateway to p_epoch (never lowers it) and returns, per product, the orders
-- the gateway's purchases hold once every purchase that took the fence lock before has committed.
-- In the caller's transaction: the fence holds from its commit on.
CREATE OR REPLACE FUNCTION fence_gateway(p_gateway text, p_epoch bigint)
RETURNS TABLE (product text, sold bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  IF p_gateway IS NULL OR p_gateway = '' OR p_epoch IS NULL OR p_epoch < 0 THEN
    RAISE EXCEPTION 'fence_gateway: a gateway name and an epoch >= 0 are needed (got %, %)',
      p_gateway, p_epoch USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- The count below must see what committed while this waited for the lock: a snapshot per
  -- statement, i.e. READ COMMITTED.
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'fence_gateway: needs READ COMMITTED, not %', current_setting('transaction_isolation')
      USING ERRCODE = 'invalid_transaction_state';
  END IF;
  PERFORM pg_advisory_xact_lock(gateway_fence_key(p_gateway));
  INSERT INTO gateway_fence AS f (gateway, fenced_epoch) VALUES (p_gateway, p_epoch)
  ON CONFLICT (gateway) DO UPDATE
    SET fenced_epoch = greatest(f.fenced_epoch, excluded.fenced_epoch), fenced_at = now();
  -- A new statement, so a new snapshot: every purchase that held the shared lock has committed.
  RETURN QUERY SELECT p.id, count(o.id)
                 FROM product p
                 LEFT JOIN purchase_order o ON o.product = p.id AND o.gateway = p_gateway
                GROUP BY p.id
                ORDER BY p.id;
END;
$$;

REVOKE ALL ON FUNCTION gateway_fence_key(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION purchase_batch_fenced(text, text[], text[], text[], bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION fence_gateway(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purchase_batch_fenced(text, text[], text[], text[], bigint[])
  TO flashsale_writer;
GRANT EXECUTE ON FUNCTION fence_gateway(text, bigint) TO flashsale_writer;
-- The writers' batches go through the fence from now on. purchase_one (no epoch: one purchase by
-- hand, tools and tests) stays theirs; a writer node never calls it.
REVOKE EXECUTE ON FUNCTION purchase_batch(text, text[], text[], text[]) FROM flashsale_writer;
