-- A disabled user cannot sign in and has no session; the account and its history stay.
ALTER TABLE users ADD COLUMN disabled_at TEXT;
