-- Delivery claims: key columns plus the claim as a JSON document.
CREATE TABLE claims (
    number bigserial PRIMARY KEY,
    order_number bigint NOT NULL REFERENCES orders (number),
    currency text NOT NULL,
    doc text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX claims_order ON claims (order_number, number);
