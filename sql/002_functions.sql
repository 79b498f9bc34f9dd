-- Stored functions: the only way data is written. SECURITY DEFINER (they run with the rights of
-- the migrating admin) with a fixed search_path so a caller cannot shadow the tables.

-- Creates product p_id with p_stock units spread evenly over p_slots stock rows (the remainder goes
-- to the first slots) and records the initial stock in the ledger, all in the caller's
-- transaction. Returns 'created', or 'exists' when the same definition is already there; a
-- different definition of an existing product raises SQLSTATE FS001.
CREATE OR REPLACE FUNCTION define_product(p_id text, p_stock int, p_slots int,
                                          p_per_user_limit int, p_hot boolean)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
  v_existing product%ROWTYPE;
  v_initial  bigint;
BEGIN
  IF p_id IS NULL OR p_id !~ '^[A-Za-z0-9_-]{1,64}$' THEN
    RAISE EXCEPTION 'define_product: invalid product id %', coalesce(quote_literal(p_id), 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_stock IS NULL OR p_stock < 0 THEN
    RAISE EXCEPTION 'define_product(%): stock must be >= 0, got %', p_id, p_stock
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_slots IS NULL OR p_slots NOT BETWEEN 1 AND 1024 THEN
    RAISE EXCEPTION 'define_product(%): slots must be in [1, 1024], got %', p_id, p_slots
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_per_user_limit IS NULL OR p_per_user_limit < 1 THEN
    RAISE EXCEPTION 'define_product(%): per_user_limit must be >= 1, got %', p_id, p_per_user_limit
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_hot IS NULL THEN
    RAISE EXCEPTION 'define_product(%): hot must not be NULL', p_id
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- Two admins defining the same product at once: the second waits and then sees the first.
  PERFORM pg_advisory_xact_lock(hashtext('flashsale.define_product'), hashtext(p_id));

  SELECT * INTO v_existing FROM product p WHERE p.id = p_id;
  IF FOUND THEN
    SELECT a.delta INTO v_initial FROM stock_adjustment a
     WHERE a.product = p_id AND a.reason = 'initial stock'
     ORDER BY a.id LIMIT 1;
    IF v_existing.slots = p_slots AND v_existing.per_user_limit = p_per_user_limit
       AND v_existing.hot = p_hot AND v_initial IS NOT DISTINCT FROM p_stock::bigint THEN
      RETURN 'exists';
    END IF;
    RAISE EXCEPTION 'product % is already defined differently: stock %, slots %, per_user_limit %, hot % (requested stock %, slots %, per_user_limit %, hot %)',
      p_id, v_initial, v_existing.slots, v_existing.per_user_limit, v_existing.hot,
      p_stock, p_slots, p_per_user_limit, p_hot
      USING ERRCODE = 'FS001',
            HINT = 'A product definition cannot change once created; use a new product id or a fresh database.';
  END IF;

  INSERT INTO product (id, slots, per_user_limit, hot)
  VALUES (p_id, p_slots, p_per_user_limit, p_hot);

  INSERT INTO stock_slot (product, slot, remaining)
  SELECT p_id, s, p_stock / p_slots + CASE WHEN s <= p_stock % p_slots THEN 1 ELSE 0 END
    FROM generate_series(1, p_slots) AS s;

  INSERT INTO stock_adjustment (product, delta, reason)
  VALUES (p_id, p_stock, 'initial stock');

  RETURN 'created';
END;
$$;

-- Buys one unit of p_product for p_user under the idempotency key p_request_id, in the caller's
-- transaction. Returns exactly one row:
--   confirmed          order_id and slot of the new order
--   duplicate_request  order_id and slot of the order already written for p_request_id
--   user_limit         the user already holds per_user_limit orders of the product
--   sold_out           no slot has stock left
--   unknown_product    no such product
-- (order_id and slot are NULL unless confirmed or duplicate_request). Nothing is written unless
-- the status is confirmed.
--
-- Concurrency: orders of one (product, user) are serialised by a transaction-level advisory lock,
-- so concurrent requests of one user cannot exceed the limit. The unit is taken from a slot locked
-- with FOR UPDATE SKIP LOCKED, scanning the slots from a start derived from the request id so
-- concurrent buyers spread over the slots; only when every slot with stock is locked by others
-- does it wait for one (and re-checks its stock once the lock is granted). A concurrent
-- duplicate with another user id is caught by the unique request_id (ON CONFLICT DO NOTHING:
-- waits for the other transaction, then answers duplicate_request without a subtransaction).
--
-- Call it once per transaction: a transaction calling it repeatedly holds several slot locks and
-- can deadlock with another such transaction.
CREATE OR REPLACE FUNCTION purchase_one(p_product text, p_request_id text, p_user text,
                                        p_gateway text)
RETURNS TABLE (status text, order_id bigint, slot int)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  v_limit  int;
  v_slots  int;
  v_start  int;
  v_slot   int;
  v_order  bigint;
  v_count  bigint;
  v_candidate int;
  v_remaining int;
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

  -- Redelivered or retried request: answer with the order already written.
  SELECT o.id, o.slot INTO v_order, v_slot FROM purchase_order o WHERE o.request_id = p_request_id;
  IF FOUND THEN
    RETURN QUERY SELECT 'duplicate_request'::text, v_order, v_slot;
    RETURN;
  END IF;

  SELECT p.per_user_limit, p.slots INTO v_limit, v_slots FROM product p WHERE p.id = p_product;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'unknown_product'::text, NULL::bigint, NULL::int;
    RETURN;
  END IF;

  PERFORM pg_advisory_xact_lock(hashtext(p_product), hashtext(p_user));

  -- A duplicate of the same user may have committed while we waited for the lock.
  SELECT o.id, o.slot INTO v_order, v_slot FROM purchase_order o WHERE o.request_id = p_request_id;
  IF FOUND THEN
    RETURN QUERY SELECT 'duplicate_request'::text, v_order, v_slot;
    RETURN;
  END IF;

  SELECT count(*) INTO v_count FROM purchase_order o
   WHERE o.product = p_product AND o.user_id = p_user;
  IF v_count >= v_limit THEN
    RETURN QUERY SELECT 'user_limit'::text, NULL::bigint, NULL::int;
    RETURN;
  END IF;

  v_start := ((hashtext(p_request_id)::bigint % v_slots) + v_slots) % v_slots;

  -- A slot with stock that no other buyer holds.
  SELECT s.slot INTO v_slot FROM stock_slot s
   WHERE s.product = p_product AND s.remaining > 0
   ORDER BY (s.slot - 1 - v_start + v_slots) % v_slots
   LIMIT 1
   FOR UPDATE SKIP LOCKED;

  -- Every slot with stock is held by other buyers: wait for one. One row lock per statement, and
  -- each candidate comes from a fresh snapshot taken after the previous lock was granted: a row
  -- emptied meanwhile is seen as empty and never waited for, so waits cannot form a cycle (a
  -- single "... LIMIT 1 FOR UPDATE" keeps the locks of rows that fail its re-check while waiting
  -- for the next row chosen from its old snapshot, and deadlocks).
  WHILE v_slot IS NULL LOOP
    SELECT s.slot INTO v_candidate FROM stock_slot s
     WHERE s.product = p_product AND s.remaining > 0
     ORDER BY (s.slot - 1 - v_start + v_slots) % v_slots
     LIMIT 1;
    IF NOT FOUND THEN
      RETURN QUERY SELECT 'sold_out'::text, NULL::bigint, NULL::int;
      RETURN;
    END IF;
    SELECT s.remaining INTO v_remaining FROM stock_slot s
     WHERE s.product = p_product AND s.slot = v_candidate
     FOR UPDATE;
    IF v_remaining > 0 THEN
      v_slot := v_candidate;
    END IF;
  END LOOP;

  INSERT INTO purchase_order (request_id, product, user_id, slot, gateway)
  VALUES (p_request_id, p_product, p_user, v_slot, p_gateway)
  ON CONFLICT (request_id) DO NOTHING
  RETURNING id INTO v_order;
  IF v_order IS NULL THEN
    -- A concurrent transaction (another user id) committed this request id first.
    SELECT o.id, o.slot INTO v_order, v_slot FROM purchase_order o WHERE o.request_id = p_request_id;
    RETURN QUERY SELECT 'duplicate_request'::text, v_order, v_slot;
    RETURN;
  END IF;

  UPDATE stock_slot s SET remaining = s.remaining - 1
   WHERE s.product = p_product AND s.slot = v_slot;

  RETURN QUERY SELECT 'confirmed'::text, v_order, v_slot;
END;
$$;
