-- Bin layout per location (format, bin master, start point) as a JSON document (text).
CREATE TABLE location_layouts (
    location text COLLATE "C" PRIMARY KEY,
    doc text NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Where each SKU is picked at a location.
CREATE TABLE sku_bins (
    location text COLLATE "C" NOT NULL,
    sku text COLLATE "C" NOT NULL,
    bin text COLLATE "C" NOT NULL,
    PRIMARY KEY (location, sku)
);

-- Pick job numbers are taken once a job is planned (its id `PL-000001` is in the
-- document); a rolled-back job leaves a harmless gap.
CREATE SEQUENCE pick_job_number_seq;

-- Pick jobs: the lists, tote assignments and progress as one JSON document (text).
CREATE TABLE pick_jobs (
    number bigint PRIMARY KEY DEFAULT nextval('pick_job_number_seq'),
    location text COLLATE "C" NOT NULL,
    status text NOT NULL,
    doc text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
ALTER SEQUENCE pick_job_number_seq OWNED BY pick_jobs.number;
CREATE INDEX pick_jobs_location ON pick_jobs (location, status, number);
