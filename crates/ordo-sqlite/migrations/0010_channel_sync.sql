-- Connector state per sales channel: connection settings (credentials sealed), SKU
-- mappings, cursors, webhook deliveries, acknowledged figures. Keys compare bytewise.
CREATE TABLE channel_sync (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (channel, key)
) STRICT, WITHOUT ROWID;
