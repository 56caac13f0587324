-- The pack bench's box types; the built-in set applies until one is saved.
CREATE TABLE box_types (
    code TEXT PRIMARY KEY,
    doc TEXT NOT NULL
) STRICT;

-- What the pack station recorded per fulfillment order (boxes, contents, instructions, weight).
CREATE TABLE packings (
    order_number INTEGER NOT NULL,
    fo_no INTEGER NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (order_number, fo_no)
) STRICT, WITHOUT ROWID;

-- Settings kept as one JSON document each (e.g. `carrier_services`).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
