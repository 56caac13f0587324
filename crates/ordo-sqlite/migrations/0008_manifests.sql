-- End-of-day hand-overs per location and carrier.
CREATE TABLE manifests (
    number INTEGER PRIMARY KEY,
    location TEXT NOT NULL,
    carrier TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX manifests_location ON manifests (location, number);

-- The manifest a shipment was handed over on; NULL while it waits for one.
ALTER TABLE shipments ADD COLUMN manifest INTEGER;
CREATE INDEX shipments_unmanifested ON shipments (location, carrier, number) WHERE manifest IS NULL;
