-- Return numbers are taken once a request has passed its checks (its id `RMA-000001` is
-- derived from it); a rolled-back return leaves a harmless gap.
CREATE SEQUENCE return_number_seq;

-- Returns (RMA): lines, receipt, grading and refund as a JSON document (text).
CREATE TABLE returns (
    number bigint PRIMARY KEY DEFAULT nextval('return_number_seq'),
    order_number bigint NOT NULL REFERENCES orders (number),
    status text NOT NULL,
    currency text NOT NULL,
    doc text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
ALTER SEQUENCE return_number_seq OWNED BY returns.number;
CREATE INDEX returns_order ON returns (order_number, number);
