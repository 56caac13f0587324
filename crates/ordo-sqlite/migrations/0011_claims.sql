-- Delivery claims: key columns plus the claim as a JSON document.
CREATE TABLE claims (
    number INTEGER PRIMARY KEY,
    order_number INTEGER NOT NULL REFERENCES orders (number),
    currency TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX claims_order ON claims (order_number, number);
