-- Every saved version of the ordered routing rules; the highest version is in force.
CREATE TABLE routing_rule_sets (
    version INTEGER PRIMARY KEY,
    rules TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    saved_at TEXT NOT NULL
) STRICT;
