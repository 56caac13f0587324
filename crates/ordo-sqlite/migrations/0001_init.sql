-- Catalog: key columns for lookups, the full record as JSON in `doc`.
CREATE TABLE products (
    sku TEXT PRIMARY KEY,
    active INTEGER NOT NULL,
    doc TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE locations (
    code TEXT PRIMARY KEY,
    active INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    doc TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE channels (
    code TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT,
    phone TEXT,
    created_at TEXT NOT NULL
) STRICT;

-- Balances are a materialised fold of `movements`; `ordo verify` proves it.
CREATE TABLE balances (
    sku TEXT NOT NULL,
    location TEXT NOT NULL,
    on_hand INTEGER NOT NULL DEFAULT 0,
    allocated INTEGER NOT NULL DEFAULT 0,
    damaged INTEGER NOT NULL DEFAULT 0,
    quality_control INTEGER NOT NULL DEFAULT 0,
    safety_stock INTEGER NOT NULL DEFAULT 0,
    incoming INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sku, location)
) STRICT, WITHOUT ROWID;

-- Append-only stock ledger.
CREATE TABLE movements (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    sku TEXT NOT NULL,
    location TEXT NOT NULL,
    state TEXT NOT NULL,
    delta INTEGER NOT NULL,
    before INTEGER NOT NULL,
    after INTEGER NOT NULL,
    reason TEXT NOT NULL,
    reference TEXT,
    actor TEXT NOT NULL
) STRICT;
CREATE INDEX movements_sku_location ON movements (sku, location, seq);

CREATE TABLE orders (
    number INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    status TEXT NOT NULL,
    fill_status TEXT NOT NULL,
    hold_reason TEXT,
    cancel_reason TEXT,
    placed_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    email TEXT NOT NULL,
    ship_country TEXT NOT NULL,
    currency TEXT NOT NULL,
    priority INTEGER NOT NULL,
    total INTEGER NOT NULL,
    units INTEGER NOT NULL,
    -- Customer, addresses, shipping, payment, tags, notes, totals: fixed at capture.
    doc TEXT NOT NULL,
    UNIQUE (channel, external_id)
) STRICT;
CREATE INDEX orders_status ON orders (status, number);
CREATE INDEX orders_email ON orders (email);
CREATE INDEX orders_placed_at ON orders (placed_at);

CREATE TABLE order_lines (
    order_number INTEGER NOT NULL REFERENCES orders (number),
    line_no INTEGER NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price INTEGER NOT NULL,
    discount INTEGER NOT NULL,
    tax INTEGER NOT NULL,
    allocated INTEGER NOT NULL,
    backordered INTEGER NOT NULL,
    PRIMARY KEY (order_number, line_no)
) STRICT, WITHOUT ROWID;
CREATE INDEX order_lines_sku ON order_lines (sku, order_number);
-- Lines still waiting for stock, found quickly when stock is freed.
CREATE INDEX order_lines_waiting ON order_lines (sku) WHERE backordered > 0;

-- Open reservations; their sum per (sku, location) equals balances.allocated.
CREATE TABLE allocations (
    order_number INTEGER NOT NULL,
    line_no INTEGER NOT NULL,
    location TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (order_number, line_no, location)
) STRICT, WITHOUT ROWID;

-- Transactional outbox; also each order's timeline.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    order_number INTEGER,
    actor TEXT NOT NULL,
    data TEXT NOT NULL
) STRICT;
CREATE INDEX events_order ON events (order_number, seq) WHERE order_number IS NOT NULL;

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
