-- Least privilege. The writer role may connect and execute purchase_one, nothing else: no table,
-- no sequence, no other function. define_product stays with the admin (the migrating user).
-- Roles are cluster-wide while this script runs once per database (main and every hot product
-- database, possibly at the same time): every statement is idempotent and race-tolerant.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flashsale_writer') THEN
    BEGIN
      CREATE ROLE flashsale_writer LOGIN;  -- no password: it cannot log in until an operator sets one
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- created concurrently by the migration of another database
    END;
  END IF;
END;
$$;

-- Nobody but the owner touches the tables and sequences directly.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM flashsale_writer;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM flashsale_writer;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Functions are executable by PUBLIC when created: take that back, now and for later migrations.
REVOKE ALL ON FUNCTION define_product(text, int, int, int, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION purchase_one(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION define_product(text, int, int, int, boolean) FROM flashsale_writer;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

GRANT EXECUTE ON FUNCTION purchase_one(text, text, text, text) TO flashsale_writer;

DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO flashsale_writer', current_database());
END;
$$;
