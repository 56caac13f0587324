-- Returns (RMA): lines, receipt, grading and refund as a JSON document.
CREATE TABLE returns (
    number INTEGER PRIMARY KEY,
    order_number INTEGER NOT NULL,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX returns_order ON returns (order_number, number);
