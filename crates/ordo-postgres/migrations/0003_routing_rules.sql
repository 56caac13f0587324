-- Every saved version of the ordered routing rules; the highest version is in force.
CREATE TABLE routing_rule_sets (
    version bigint PRIMARY KEY,
    rules text NOT NULL,
    saved_by text NOT NULL,
    saved_at timestamptz NOT NULL
);
