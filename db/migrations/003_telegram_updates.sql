-- 003: Telegram updates already handled, so an update redelivered after a crash is not answered twice.

-- One row per handled update of a bot (update ids are per bot); rows older than a few days are pruned,
-- as Telegram keeps unconfirmed updates for 24 hours at most.
CREATE TABLE telegram_updates (
    bot_id INTEGER NOT NULL,
    update_id INTEGER NOT NULL,
    ts TEXT NOT NULL,                -- UTC, ISO 8601: when it was handled
    PRIMARY KEY (bot_id, update_id)
) WITHOUT ROWID;
CREATE INDEX idx_telegram_updates_ts ON telegram_updates (ts);
