-- Units that left in shipments; allocated + backordered + shipped = quantity on open orders.
ALTER TABLE order_lines ADD COLUMN shipped bigint NOT NULL DEFAULT 0;

-- Shipment numbers are taken before the row is written (the ledger reference and an
-- own-fleet tracking number carry them); a rolled-back shipment leaves a harmless gap.
CREATE SEQUENCE shipment_number_seq;

-- One shipment per shipped fulfillment order. Packages, lines and tracking events are in
-- `doc` (JSON text).
CREATE TABLE shipments (
    number bigint PRIMARY KEY DEFAULT nextval('shipment_number_seq'),
    order_number bigint NOT NULL REFERENCES orders (number),
    fo_no integer NOT NULL,
    location text COLLATE "C" NOT NULL,
    carrier text COLLATE "C" NOT NULL,
    service text NOT NULL,
    tracking_number text COLLATE "C" NOT NULL,
    status text NOT NULL,
    doc text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (carrier, tracking_number)
);
ALTER SEQUENCE shipment_number_seq OWNED BY shipments.number;
CREATE INDEX shipments_order ON shipments (order_number, number);
CREATE INDEX shipments_location ON shipments (location, number);
