-- Bin layout per location (format, bin master, start point) as a JSON document.
CREATE TABLE location_layouts (
    location TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

-- Where each SKU is picked at a location.
CREATE TABLE sku_bins (
    location TEXT NOT NULL,
    sku TEXT NOT NULL,
    bin TEXT NOT NULL,
    PRIMARY KEY (location, sku)
) STRICT, WITHOUT ROWID;

-- Pick jobs: the lists, tote assignments and progress as one JSON document.
CREATE TABLE pick_jobs (
    number INTEGER PRIMARY KEY,
    location TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX pick_jobs_location ON pick_jobs (location, status, number);
