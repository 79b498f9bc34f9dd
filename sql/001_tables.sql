-- Flash-sale tables. Applied once per database by `flashsale-admin migrate` (tracked in
-- schema_migrations). Every write goes through the stored functions of 002_functions.sql;
-- the writer role may only execute them (003_roles.sql).

-- A product on sale. Its stock lives in stock_slot rows, its history in stock_adjustment.
CREATE TABLE product (
  id             text        PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
  slots          int         NOT NULL CHECK (slots BETWEEN 1 AND 1024),
  per_user_limit int         NOT NULL CHECK (per_user_limit >= 1),
  hot            boolean     NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- The stock of a product spread over `slots` rows (1..slots) so that concurrent buyers lock
-- different rows. I1: a slot can never go negative, whatever the code does.
CREATE TABLE stock_slot (
  product   text NOT NULL REFERENCES product (id),
  slot      int  NOT NULL CHECK (slot >= 1),
  remaining int  NOT NULL CHECK (remaining >= 0),
  PRIMARY KEY (product, slot)
);

-- One row per unit sold. I3: the request id (idempotency key) is unique across all products.
CREATE TABLE purchase_order (
  id         bigserial   PRIMARY KEY,
  request_id text        NOT NULL UNIQUE,
  product    text        NOT NULL REFERENCES product (id),
  user_id    text        NOT NULL,
  slot       int         NOT NULL,
  gateway    text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX purchase_order_product_user ON purchase_order (product, user_id);

-- The stock ledger: every unit ever made available (or withdrawn) is a row here. I2: per product,
-- sum(delta) = sum(stock_slot.remaining) + count(purchase_order).
CREATE TABLE stock_adjustment (
  id         bigserial   PRIMARY KEY,
  product    text        NOT NULL REFERENCES product (id),
  delta      int         NOT NULL,
  reason     text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_adjustment_product ON stock_adjustment (product);
