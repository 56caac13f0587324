-- Units that left in shipments; allocated + backordered + shipped = quantity on open orders.
ALTER TABLE order_lines ADD COLUMN shipped INTEGER NOT NULL DEFAULT 0;

-- One shipment per shipped fulfillment order. Packages, lines and tracking events are in `doc`.
CREATE TABLE shipments (
    number INTEGER PRIMARY KEY,
    order_number INTEGER NOT NULL,
    fo_no INTEGER NOT NULL,
    location TEXT NOT NULL,
    carrier TEXT NOT NULL,
    service TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (carrier, tracking_number)
) STRICT;
CREATE INDEX shipments_order ON shipments (order_number, number);
CREATE INDEX shipments_location ON shipments (location, number);
