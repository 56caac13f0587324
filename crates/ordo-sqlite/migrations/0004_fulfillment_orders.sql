-- Fulfillment orders: the part of an order one location ships. Active lines are the
-- allocations carrying the fulfillment order's number; `closed_lines` keeps (as JSON)
-- what a cancelled, merged-away or rejected one held.
CREATE TABLE fulfillment_orders (
    order_number INTEGER NOT NULL,
    fo_no INTEGER NOT NULL,
    location TEXT NOT NULL,
    status TEXT NOT NULL,
    request_status TEXT,
    reason TEXT,
    closed_lines TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (order_number, fo_no)
) STRICT, WITHOUT ROWID;
CREATE INDEX fulfillment_orders_location ON fulfillment_orders (location, status, order_number, fo_no);

-- Orders allocated before fulfillment orders existed get one per location.
INSERT INTO fulfillment_orders (order_number, fo_no, location, status, request_status, created_at, updated_at)
SELECT a.order_number,
       ROW_NUMBER() OVER (PARTITION BY a.order_number ORDER BY a.location),
       a.location,
       CASE o.status WHEN 'on_hold' THEN 'on_hold' ELSE 'open' END,
       CASE json_extract(l.doc, '$.kind') WHEN '3pl' THEN 'unsubmitted' WHEN 'marketplace' THEN 'unsubmitted' END,
       o.updated_at, o.updated_at
FROM (SELECT DISTINCT order_number, location FROM allocations) a
JOIN orders o ON o.number = a.order_number
LEFT JOIN locations l ON l.code = a.location;

CREATE TABLE allocations_by_fulfillment (
    order_number INTEGER NOT NULL,
    fo_no INTEGER NOT NULL,
    line_no INTEGER NOT NULL,
    location TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (order_number, fo_no, line_no)
) STRICT, WITHOUT ROWID;
INSERT INTO allocations_by_fulfillment (order_number, fo_no, line_no, location, quantity)
SELECT a.order_number, f.fo_no, a.line_no, a.location, a.quantity
FROM allocations a
JOIN fulfillment_orders f ON f.order_number = a.order_number AND f.location = a.location;
DROP TABLE allocations;
ALTER TABLE allocations_by_fulfillment RENAME TO allocations;

-- Fulfillment orders routed to a location on its current local day, for daily capacity.
-- A row from an earlier day counts as zero.
CREATE TABLE location_day_counts (
    location TEXT PRIMARY KEY,
    day TEXT NOT NULL,
    orders INTEGER NOT NULL
) STRICT;
