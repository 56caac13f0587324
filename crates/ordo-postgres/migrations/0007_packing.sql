-- The pack bench's box types (JSON text); the built-in set applies until one is saved.
CREATE TABLE box_types (
    code text COLLATE "C" PRIMARY KEY,
    doc text NOT NULL
);

-- What the pack station recorded per fulfillment order (boxes, contents, instructions,
-- weight) as a JSON document (text). Packing again replaces it.
CREATE TABLE packings (
    order_number bigint NOT NULL,
    fo_no integer NOT NULL,
    doc text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (order_number, fo_no)
);

-- Settings kept as one JSON document (text) each (e.g. `carrier_services`).
CREATE TABLE settings (
    key text COLLATE "C" PRIMARY KEY,
    doc text NOT NULL,
    updated_at timestamptz NOT NULL
);
