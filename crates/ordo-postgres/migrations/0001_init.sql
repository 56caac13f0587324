-- Text keys use the "C" collation so that ordering (and with it every page cursor) is
-- byte order whatever the database's locale, as in the SQLite backend.

-- Catalog: key columns for lookups, the full record as JSON in `doc`.
CREATE TABLE products (
    sku text COLLATE "C" PRIMARY KEY,
    active boolean NOT NULL,
    doc text NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE locations (
    code text COLLATE "C" PRIMARY KEY,
    active boolean NOT NULL,
    priority integer NOT NULL,
    doc text NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE channels (
    code text COLLATE "C" PRIMARY KEY,
    doc text NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE customers (
    id bigserial PRIMARY KEY,
    email text COLLATE "C" NOT NULL UNIQUE,
    name text,
    phone text,
    created_at timestamptz NOT NULL
);

-- Balances are a materialised fold of `movements`; `ordo verify` proves it.
CREATE TABLE balances (
    sku text COLLATE "C" NOT NULL,
    location text COLLATE "C" NOT NULL,
    on_hand bigint NOT NULL DEFAULT 0,
    allocated bigint NOT NULL DEFAULT 0,
    damaged bigint NOT NULL DEFAULT 0,
    quality_control bigint NOT NULL DEFAULT 0,
    safety_stock bigint NOT NULL DEFAULT 0,
    incoming bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (sku, location)
);

-- Append-only stock ledger.
CREATE TABLE movements (
    seq bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    sku text COLLATE "C" NOT NULL,
    location text COLLATE "C" NOT NULL,
    state text NOT NULL,
    delta bigint NOT NULL,
    before bigint NOT NULL,
    after bigint NOT NULL,
    reason text NOT NULL,
    reference text,
    actor text NOT NULL
);
CREATE INDEX movements_sku_location ON movements (sku, location, seq);

-- Order numbers are taken in bulk by each capture batch; gaps are harmless.
CREATE SEQUENCE order_number_seq;

CREATE TABLE orders (
    number bigint PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    channel text COLLATE "C" NOT NULL,
    external_id text COLLATE "C" NOT NULL,
    status text NOT NULL,
    fill_status text NOT NULL,
    hold_reason text,
    cancel_reason text,
    placed_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    customer_id bigint NOT NULL REFERENCES customers (id),
    email text COLLATE "C" NOT NULL,
    ship_country text NOT NULL,
    currency text NOT NULL,
    priority integer NOT NULL,
    total bigint NOT NULL,
    units bigint NOT NULL,
    -- Customer, addresses, shipping, payment, tags, notes, totals: fixed at capture.
    doc text NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX orders_status ON orders (status, number);
CREATE INDEX orders_email ON orders (email);
CREATE INDEX orders_placed_at ON orders (placed_at);

CREATE TABLE order_lines (
    order_number bigint NOT NULL REFERENCES orders (number),
    line_no integer NOT NULL,
    sku text COLLATE "C" NOT NULL,
    quantity bigint NOT NULL,
    unit_price bigint NOT NULL,
    discount bigint NOT NULL,
    tax bigint NOT NULL,
    allocated bigint NOT NULL,
    backordered bigint NOT NULL,
    PRIMARY KEY (order_number, line_no)
);
CREATE INDEX order_lines_sku ON order_lines (sku, order_number);
-- Lines still waiting for stock, found quickly when stock is freed.
CREATE INDEX order_lines_waiting ON order_lines (sku) WHERE backordered > 0;

-- Open reservations; their sum per (sku, location) equals balances.allocated.
CREATE TABLE allocations (
    order_number bigint NOT NULL,
    line_no integer NOT NULL,
    location text COLLATE "C" NOT NULL,
    quantity bigint NOT NULL,
    PRIMARY KEY (order_number, line_no, location)
);

-- Transactional outbox; also each order's timeline. `seq` is taken under an advisory
-- lock held until commit, so it increases in commit order.
CREATE TABLE events (
    seq bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    kind text NOT NULL,
    order_number bigint,
    actor text NOT NULL,
    data text NOT NULL
);
CREATE INDEX events_order ON events (order_number, seq) WHERE order_number IS NOT NULL;

CREATE TABLE api_keys (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    role text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE idempotency_keys (
    key text PRIMARY KEY,
    status integer NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL
);
