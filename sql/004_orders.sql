-- Durable orders at speed (issue 3): purchase_batch, the writers' one-transaction purchase of a
-- whole batch, and adjust_stock, an operator's stock change. purchase_one becomes a one-element
-- purchase_batch, so every purchase path takes its locks in the same order (see below).
--
-- Lock order, shared by every function here (it is what makes them deadlock-free together):
--   1. per-user advisory locks (hashtext(product), hashtext(user)), in ascending key order;
--   2. stock slots: either taken with FOR UPDATE SKIP LOCKED (never waits), or, when waiting is
--      needed, in ascending slot order while holding no slot taken out of order;
--   3. order rows, inserted in ascending request_id order (a concurrent duplicate request id makes
--      the insert wait for the other transaction).
-- A transaction waiting in step k holds only locks of steps <= k taken in that step's order, so
-- waits cannot form a cycle.

-- Buys one unit per request for a batch of requests of one product, in the caller's transaction.
-- p_request_ids, p_user_ids and p_gateways are parallel arrays (element i is request i). Returns
-- one row per request, idx = i (1-based), in request order:
--   confirmed          order_id and slot of the new order
--   duplicate_request  order_id and slot of the order already written for the request id (by an
--                      earlier call, a concurrent one, or an earlier element of this batch)
--   user_limit         the user already holds per_user_limit orders of the product
--   sold_out           no stock left for this request
--   unknown_product    no such product (every row)
-- order_id and slot are NULL unless confirmed or duplicate_request. Requests are decided in array
-- order: an earlier request of a user counts against the limit of a later one, and the stock goes
-- to the earliest requests. A repeated request id within the batch gets the answer of its first
-- occurrence (duplicate_request when that one has an order).
--
-- Concurrency: the batch's users are locked first (advisory, ascending), so concurrent batches of
-- one user cannot exceed the limit. Units come from slots locked with FOR UPDATE SKIP LOCKED,
-- starting at a slot derived from the first request id so concurrent batches spread over the slots;
-- a slot gives min(its stock, what is still needed). Only when the slots nobody holds cannot serve
-- the batch while slots held by others still show stock does it wait: the attempt is rolled back (a
-- subtransaction: its units and slot locks are released), then it waits for one busy slot while
-- holding none and tops up without waiting (up to three such attempts, the waits spread over the
-- slots), and when that is not enough either it locks the slots one by one in ascending order,
-- each re-read once its lock is granted.
CREATE OR REPLACE FUNCTION purchase_batch(p_product text, p_request_ids text[],
                                          p_user_ids text[], p_gateways text[])
RETURNS TABLE (idx int, status text, order_id bigint, slot int)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
-- One plan per statement and session: re-planning the classification on every call costs more
-- than the call. Every statement here is a point lookup through an index (per-request lookups go
-- through LATERAL, never over a product's orders); a plan made while the tables were still small
-- would scan them sequentially for the rest of the session, so sequential scans are off.
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
#variable_conflict use_column
DECLARE
  n           int := coalesce(cardinality(p_request_ids), 0);
  v_limit     int;
  v_slots     int;
  v_kind      text[];    -- per request: see the classification below
  v_order     bigint[];  -- per request: order id (existing or new)
  v_slot      int[];     -- per request: slot of that order
  v_first     int[];     -- per request: index of the first request with the same id
  v_need      int;       -- requests that want a unit
  v_repeats   int;       -- requests repeating an earlier request id of the batch
  v_got       int := 0;
  v_alloc_slot  int[] := '{}';
  v_alloc_count int[] := '{}';
  v_start     int;
  v_attempt   int;
  v_done      boolean := false;
  v_s         int;
  v_r         int;
  v_take      int;
  v_last      int;
  v_ai        int;
  v_left      int;
  v_inserted  int;
  v_ins_r     text[];
  v_ins_id    bigint[];
  v_dup_order bigint;
  v_dup_slot  int;
  f           int;
BEGIN
  IF p_product IS NULL OR p_request_ids IS NULL OR p_user_ids IS NULL OR p_gateways IS NULL THEN
    RAISE EXCEPTION 'purchase_batch: arguments must not be NULL'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF n > 0 AND (array_ndims(p_request_ids) <> 1 OR array_ndims(p_user_ids) <> 1
                OR array_ndims(p_gateways) <> 1) THEN
    RAISE EXCEPTION 'purchase_batch: arrays must be one-dimensional'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF coalesce(cardinality(p_user_ids), 0) <> n OR coalesce(cardinality(p_gateways), 0) <> n THEN
    RAISE EXCEPTION 'purchase_batch: % request ids, % user ids and % gateways (must be equal)',
      n, cardinality(p_user_ids), cardinality(p_gateways)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF n = 0 THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(p_request_ids, p_user_ids, p_gateways) AS t(r, u, g)
              WHERE t.r IS NULL OR t.r = '' OR t.u IS NULL OR t.u = '' OR t.g IS NULL) THEN
    RAISE EXCEPTION 'purchase_batch: request ids and user ids must not be empty, gateways not NULL'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  SELECT p.per_user_limit, p.slots INTO v_limit, v_slots FROM product p WHERE p.id = p_product;
  IF NOT FOUND THEN
    RETURN QUERY SELECT i::int, 'unknown_product'::text, NULL::bigint, NULL::int
                   FROM generate_series(1, n) AS i;
    RETURN;
  END IF;

  -- 1. The users of the batch, in ascending key order.
  PERFORM pg_advisory_xact_lock(hashtext(p_product), k.key)
     FROM (SELECT DISTINCT hashtext(u) AS key FROM unnest(p_user_ids) AS u ORDER BY 1) AS k;

  -- Classify every request (after the user locks: what they guarded has committed):
  --   duplicate_request  an order exists for the request id
  --   repeat             the request id occurs earlier in the batch
  --   candidate          within the user's limit, counting the user's orders and earlier candidates
  --   user_limit         beyond it
  SELECT array_agg(c.kind ORDER BY c.i), array_agg(c.oid ORDER BY c.i),
         array_agg(c.oslot ORDER BY c.i), array_agg(c.fi ORDER BY c.i),
         count(*) FILTER (WHERE c.kind = 'candidate'), count(*) FILTER (WHERE c.kind = 'repeat')
    INTO v_kind, v_order, v_slot, v_first, v_need, v_repeats
    FROM (SELECT q.i, q.fi, o.id AS oid, o.slot AS oslot,
                 CASE WHEN o.id IS NOT NULL THEN 'duplicate_request'
                      WHEN q.i <> q.fi THEN 'repeat'
                      WHEN h.held + row_number() OVER w <= v_limit THEN 'candidate'
                      ELSE 'user_limit' END AS kind
            FROM (SELECT t.i::int AS i, t.r, t.u, min(t.i::int) OVER (PARTITION BY t.r) AS fi
                    FROM unnest(p_request_ids, p_user_ids) WITH ORDINALITY AS t(r, u, i)) AS q
            LEFT JOIN LATERAL (SELECT po.id, po.slot FROM purchase_order po
                                WHERE po.request_id = q.r) AS o ON true
            LEFT JOIN LATERAL (SELECT count(*) AS held FROM purchase_order po
                                WHERE po.product = p_product AND po.user_id = q.u) AS h ON true
          WINDOW w AS (PARTITION BY q.u, (o.id IS NULL AND q.i = q.fi) ORDER BY q.i)) AS c;

  -- 2. Units for the candidates. Attempt 0 never waits; attempts 1 to 3 wait for one slot while
  -- holding none (so that wait cannot close a cycle); each attempt is a subtransaction that is
  -- rolled back (units and slot locks released) when it cannot finish without a further wait.
  -- After that, the slots are locked in ascending order.
  IF v_need > 0 THEN
    v_start := ((hashtext(p_request_ids[1])::bigint % v_slots) + v_slots) % v_slots;
    v_attempt := 0;
    LOOP
      v_alloc_slot := '{}';
      v_alloc_count := '{}';
      v_got := 0;
      BEGIN
        IF v_attempt > 0 THEN
          -- Every slot with stock was busy: wait for one, from a start that spreads the waiters.
          SELECT s.slot INTO v_s FROM stock_slot s
           WHERE s.product = p_product AND s.remaining > 0
           ORDER BY (s.slot - 1 - v_start - v_attempt + 2 * v_slots) % v_slots
           LIMIT 1;
          IF FOUND THEN
            SELECT s.remaining INTO v_r FROM stock_slot s
             WHERE s.product = p_product AND s.slot = v_s
             FOR UPDATE;
            IF v_r = 0 THEN
              RAISE EXCEPTION 'purchase_batch: slot emptied while waiting' USING ERRCODE = 'FS101';
            END IF;
            v_take := least(v_r, v_need);
            UPDATE stock_slot s SET remaining = s.remaining - v_take
             WHERE s.product = p_product AND s.slot = v_s;
            v_alloc_slot := ARRAY[v_s];
            v_alloc_count := ARRAY[v_take];
            v_got := v_take;
          END IF;
        END IF;
        WHILE v_got < v_need LOOP
          SELECT s.slot, s.remaining INTO v_s, v_r FROM stock_slot s
           WHERE s.product = p_product AND s.remaining > 0
           ORDER BY (s.slot - 1 - v_start + v_slots) % v_slots
           LIMIT 1
           FOR UPDATE SKIP LOCKED;
          EXIT WHEN NOT FOUND;
          v_take := least(v_r, v_need - v_got);
          UPDATE stock_slot s SET remaining = s.remaining - v_take
           WHERE s.product = p_product AND s.slot = v_s;
          v_alloc_slot := v_alloc_slot || v_s;
          v_alloc_count := v_alloc_count || v_take;
          v_got := v_got + v_take;
        END LOOP;
        -- Short, and slots held by others still show stock (their commit may leave some).
        IF v_got < v_need AND EXISTS (SELECT 1 FROM stock_slot s
                                       WHERE s.product = p_product AND s.remaining > 0) THEN
          IF v_attempt > 0 THEN
            v_attempt := 3;  -- more than one slot's worth is missing: wait in slot order
          END IF;
          RAISE EXCEPTION 'purchase_batch: slots busy' USING ERRCODE = 'FS101';
        END IF;
        v_done := true;
      EXCEPTION WHEN SQLSTATE 'FS101' THEN
        v_attempt := v_attempt + 1;
      END;
      EXIT WHEN v_done OR v_attempt > 3;
    END LOOP;

    IF NOT v_done THEN
      v_alloc_slot := '{}';
      v_alloc_count := '{}';
      v_got := 0;
      v_last := 0;
      WHILE v_got < v_need LOOP
        -- Fresh snapshot per statement: a slot emptied (and committed) meanwhile is skipped.
        SELECT s.slot INTO v_s FROM stock_slot s
         WHERE s.product = p_product AND s.remaining > 0 AND s.slot > v_last
         ORDER BY s.slot
         LIMIT 1;
        EXIT WHEN NOT FOUND;
        SELECT s.remaining INTO v_r FROM stock_slot s
         WHERE s.product = p_product AND s.slot = v_s
         FOR UPDATE;
        v_last := v_s;
        IF v_r > 0 THEN
          v_take := least(v_r, v_need - v_got);
          UPDATE stock_slot s SET remaining = s.remaining - v_take
           WHERE s.product = p_product AND s.slot = v_s;
          v_alloc_slot := v_alloc_slot || v_s;
          v_alloc_count := v_alloc_count || v_take;
          v_got := v_got + v_take;
        END IF;
      END LOOP;
    END IF;

    -- Hand the units out in request order; candidates beyond them are sold out.
    v_ai := 1;
    v_left := coalesce(v_alloc_count[1], 0);
    FOR i IN 1 .. n LOOP
      IF v_kind[i] = 'candidate' THEN
        WHILE v_left = 0 AND v_ai < cardinality(v_alloc_slot) LOOP
          v_ai := v_ai + 1;
          v_left := v_alloc_count[v_ai];
        END LOOP;
        IF v_left > 0 THEN
          v_kind[i] := 'confirmed';
          v_slot[i] := v_alloc_slot[v_ai];
          v_left := v_left - 1;
        ELSE
          v_kind[i] := 'sold_out';
        END IF;
      END IF;
    END LOOP;
  END IF;

  -- 3. The orders, in ascending request id order.
  IF v_got > 0 THEN
    WITH ins AS (
      INSERT INTO purchase_order (request_id, product, user_id, slot, gateway)
      SELECT t.r, p_product, t.u, t.s, t.g
        FROM unnest(p_request_ids, p_user_ids, p_gateways, v_kind, v_slot) AS t(r, u, g, k, s)
       WHERE t.k = 'confirmed'
       ORDER BY t.r
      ON CONFLICT (request_id) DO NOTHING
      RETURNING purchase_order.request_id, purchase_order.id
    )
    SELECT array_agg(ins.request_id), array_agg(ins.id), count(*)
      INTO v_ins_r, v_ins_id, v_inserted
      FROM ins;
    SELECT array_agg(CASE WHEN q.k = 'confirmed' THEN x.id ELSE q.o END ORDER BY q.i)
      INTO v_order
      FROM unnest(p_request_ids, v_kind, v_order) WITH ORDINALITY AS q(r, k, o, i)
      LEFT JOIN unnest(v_ins_r, v_ins_id) AS x(r, id) ON x.r = q.r AND q.k = 'confirmed';
    IF v_inserted < v_got THEN
      -- A concurrent transaction committed some of these request ids first (under another user
      -- id): give their units back and answer with that order.
      FOR i IN 1 .. n LOOP
        IF v_kind[i] = 'confirmed' AND v_order[i] IS NULL THEN
          UPDATE stock_slot s SET remaining = s.remaining + 1
           WHERE s.product = p_product AND s.slot = v_slot[i];
          SELECT o.id, o.slot INTO v_dup_order, v_dup_slot
            FROM purchase_order o WHERE o.request_id = p_request_ids[i];
          v_kind[i] := 'duplicate_request';
          v_order[i] := v_dup_order;
          v_slot[i] := v_dup_slot;
        END IF;
      END LOOP;
    END IF;
  END IF;

  -- Repeated request ids answer like their first occurrence.
  IF v_repeats > 0 THEN
    FOR i IN 1 .. n LOOP
      IF v_kind[i] = 'repeat' THEN
        f := v_first[i];
        IF v_order[f] IS NOT NULL THEN
          v_kind[i] := 'duplicate_request';
          v_order[i] := v_order[f];
          v_slot[i] := v_slot[f];
        ELSE
          v_kind[i] := v_kind[f];
        END IF;
      END IF;
    END LOOP;
  END IF;

  RETURN QUERY
    SELECT t.i::int, t.k, t.o, t.s
      FROM unnest(v_kind, v_order, v_slot) WITH ORDINALITY AS t(k, o, s, i)
     ORDER BY t.i;
END;
$$;

-- purchase_one is now a batch of one: same answers as before, and the lock order above.
CREATE OR REPLACE FUNCTION purchase_one(p_product text, p_request_id text, p_user text,
                                        p_gateway text)
RETURNS TABLE (status text, order_id bigint, slot int)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
  IF p_request_id IS NULL OR p_request_id = '' THEN
    RAISE EXCEPTION 'purchase_one: request id must not be empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_user IS NULL OR p_user = '' THEN
    RAISE EXCEPTION 'purchase_one: user must not be empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_gateway IS NULL THEN
    RAISE EXCEPTION 'purchase_one: gateway must not be NULL' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY SELECT b.status, b.order_id, b.slot
                 FROM purchase_batch(p_product, ARRAY[p_request_id], ARRAY[p_user],
                                     ARRAY[p_gateway]) AS b;
END;
$$;

-- Adds (p_delta > 0) or removes (p_delta < 0) units of p_product, in the caller's transaction, and
-- records the change in the stock ledger with p_reason. Every slot of the product is locked in
-- ascending order (the order purchase_batch waits in), then the resulting stock is spread evenly
-- over the slots (the remainder to the lowest slots), so no slot goes below zero. A removal takes
-- at most what is left. Returns one row: requested (p_delta), applied (the signed change made:
-- p_delta, or minus what could be removed) and remaining (the product's stock afterwards). A zero
-- change writes no ledger row. Unknown product: SQLSTATE FS002.
CREATE OR REPLACE FUNCTION adjust_stock(p_product text, p_delta int, p_reason text)
RETURNS TABLE (requested int, applied int, remaining bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  v_slots   int;
  v_total   bigint;
  v_target  bigint;
  v_applied int;
BEGIN
  IF p_product IS NULL OR p_delta IS NULL THEN
    RAISE EXCEPTION 'adjust_stock: product and delta must not be NULL'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_reason IS NULL OR btrim(p_reason) = '' THEN
    RAISE EXCEPTION 'adjust_stock(%): a reason is required (it goes to the stock ledger)', p_product
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT p.slots INTO v_slots FROM product p WHERE p.id = p_product;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'adjust_stock: unknown product %', quote_literal(p_product)
      USING ERRCODE = 'FS002',
            HINT = 'Define it first (flashsale-admin sale create), in the database of the product.';
  END IF;

  SELECT sum(l.remaining) INTO v_total
    FROM (SELECT s.remaining FROM stock_slot s WHERE s.product = p_product
           ORDER BY s.slot FOR UPDATE) AS l;
  v_total := coalesce(v_total, 0);
  v_target := greatest(v_total + p_delta, 0);
  IF v_target > 2147483647::bigint * v_slots THEN
    RAISE EXCEPTION 'adjust_stock(%): % units do not fit in % slots', p_product, v_target, v_slots
      USING ERRCODE = 'numeric_value_out_of_range';
  END IF;
  v_applied := (v_target - v_total)::int;

  IF v_applied <> 0 THEN
    UPDATE stock_slot s
       SET remaining = (v_target / v_slots + CASE WHEN s.slot <= v_target % v_slots THEN 1 ELSE 0 END)::int
     WHERE s.product = p_product;
    INSERT INTO stock_adjustment (product, delta, reason) VALUES (p_product, v_applied, p_reason);
  END IF;
  RETURN QUERY SELECT p_delta, v_applied, v_target;
END;
$$;

-- Least privilege (as in 003_roles.sql): the writers may buy in batches, never change stock.
REVOKE ALL ON FUNCTION purchase_batch(text, text[], text[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION adjust_stock(text, int, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION adjust_stock(text, int, text) FROM flashsale_writer;
GRANT EXECUTE ON FUNCTION purchase_batch(text, text[], text[], text[]) TO flashsale_writer;
