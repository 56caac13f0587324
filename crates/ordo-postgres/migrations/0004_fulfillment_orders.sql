-- Fulfillment orders: the part of an order one location ships. Active lines are the
-- allocations carrying the fulfillment order's number; `closed_lines` keeps (as JSON)
-- what a cancelled, merged-away or rejected one held.
CREATE TABLE fulfillment_orders (
    order_number bigint NOT NULL,
    fo_no integer NOT NULL,
    location text COLLATE "C" NOT NULL,
    status text NOT NULL,
    request_status text,
    reason text,
    closed_lines text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (order_number, fo_no)
);
CREATE INDEX fulfillment_orders_location ON fulfillment_orders (location, status, order_number, fo_no);

-- Orders allocated before fulfillment orders existed get one per location.
INSERT INTO fulfillment_orders (order_number, fo_no, location, status, request_status, created_at, updated_at)
SELECT a.order_number,
       (ROW_NUMBER() OVER (PARTITION BY a.order_number ORDER BY a.location))::integer,
       a.location,
       CASE o.status WHEN 'on_hold' THEN 'on_hold' ELSE 'open' END,
       CASE (l.doc::jsonb ->> 'kind') WHEN '3pl' THEN 'unsubmitted' WHEN 'marketplace' THEN 'unsubmitted' END,
       o.updated_at, o.updated_at
FROM (SELECT DISTINCT order_number, location FROM allocations) a
JOIN orders o ON o.number = a.order_number
LEFT JOIN locations l ON l.code = a.location;

-- Each reservation belongs to one fulfillment order (at that order's location).
ALTER TABLE allocations ADD COLUMN fo_no integer;
UPDATE allocations a SET fo_no = f.fo_no
FROM fulfillment_orders f
WHERE f.order_number = a.order_number AND f.location = a.location;
ALTER TABLE allocations ALTER COLUMN fo_no SET NOT NULL;
ALTER TABLE allocations DROP CONSTRAINT allocations_pkey;
ALTER TABLE allocations ADD PRIMARY KEY (order_number, fo_no, line_no);

-- Fulfillment orders routed to a location on its current local day, for daily capacity.
-- A row from an earlier day counts as zero. Capture locks these rows (in location order,
-- before stock rows) so that processes sharing the database never exceed a capacity.
CREATE TABLE location_day_counts (
    location text COLLATE "C" PRIMARY KEY,
    day date NOT NULL,
    orders bigint NOT NULL
);
