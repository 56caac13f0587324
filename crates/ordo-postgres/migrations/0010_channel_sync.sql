-- Connector state per sales channel: connection settings (credentials sealed), SKU
-- mappings, cursors, webhook deliveries, acknowledged figures. Keys compare bytewise.
CREATE TABLE channel_sync (
    channel text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    value text NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (channel, key)
);
