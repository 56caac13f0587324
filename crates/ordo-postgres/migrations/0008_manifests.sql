-- Manifest numbers are taken once there is something to hand over (its id `MF-000001` is
-- in the document); a rolled-back manifest leaves a harmless gap.
CREATE SEQUENCE manifest_number_seq;

-- End-of-day hand-overs per location and carrier; the manifest itself (shipments,
-- packages, weight) is a JSON document (text).
CREATE TABLE manifests (
    number bigint PRIMARY KEY DEFAULT nextval('manifest_number_seq'),
    location text COLLATE "C" NOT NULL,
    carrier text COLLATE "C" NOT NULL,
    doc text NOT NULL,
    created_at timestamptz NOT NULL
);
ALTER SEQUENCE manifest_number_seq OWNED BY manifests.number;
CREATE INDEX manifests_location ON manifests (location, number);

-- The manifest a shipment was handed over on; NULL while it waits for one.
ALTER TABLE shipments ADD COLUMN manifest bigint;
CREATE INDEX shipments_unmanifested ON shipments (location, carrier, number) WHERE manifest IS NULL;
