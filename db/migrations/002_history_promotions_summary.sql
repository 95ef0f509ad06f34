-- 002: schema history, staff promotions, and a daily summary that keeps the staff reports fast.

-- Which migration was applied when (001 is recorded when 002 is applied).
CREATE TABLE schema_history (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied TEXT NOT NULL            -- UTC, ISO 8601
);

-- Questions staff turned into examples of an intent (`vocbot logs promote`, the dashboard).
CREATE TABLE promotions (
    id INTEGER PRIMARY KEY,
    enquiry_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    intent TEXT NOT NULL,
    text TEXT NOT NULL,
    normalized TEXT,
    lang TEXT NOT NULL,
    staff TEXT
);
CREATE INDEX idx_promotions_normalized ON promotions (normalized);

-- Enquiries counted per UTC day, channel, decision and kind (typed or button), and answers per day and intent,
-- kept by triggers, so `vocbot logs stats` and the dashboard overview read thousands of rows, not millions.
CREATE TABLE enquiry_days (
    day TEXT NOT NULL,               -- YYYY-MM-DD (UTC)
    channel TEXT NOT NULL,
    decision TEXT NOT NULL,
    via TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, channel, decision, via)
) WITHOUT ROWID;

CREATE TABLE intent_days (
    day TEXT NOT NULL,
    intent TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, intent)
) WITHOUT ROWID;

INSERT INTO enquiry_days (day, channel, decision, via, n)
    SELECT substr(ts, 1, 10), channel, decision, via, count(*) FROM enquiries GROUP BY 1, 2, 3, 4;
INSERT INTO intent_days (day, intent, n)
    SELECT substr(ts, 1, 10), intent, count(*) FROM enquiries
    WHERE decision = 'answer' AND intent IS NOT NULL GROUP BY 1, 2;

CREATE TRIGGER enquiry_days_insert AFTER INSERT ON enquiries BEGIN
    INSERT INTO enquiry_days (day, channel, decision, via, n)
    VALUES (substr(new.ts, 1, 10), new.channel, new.decision, new.via, 1)
    ON CONFLICT (day, channel, decision, via) DO UPDATE SET n = n + 1;
    INSERT INTO intent_days (day, intent, n)
    SELECT substr(new.ts, 1, 10), new.intent, 1 WHERE new.decision = 'answer' AND new.intent IS NOT NULL
    ON CONFLICT (day, intent) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER enquiry_days_delete AFTER DELETE ON enquiries BEGIN
    UPDATE enquiry_days SET n = n - 1 WHERE day = substr(old.ts, 1, 10) AND channel = old.channel
        AND decision = old.decision AND via = old.via;
    DELETE FROM enquiry_days WHERE day = substr(old.ts, 1, 10) AND channel = old.channel
        AND decision = old.decision AND via = old.via AND n <= 0;
    UPDATE intent_days SET n = n - 1 WHERE day = substr(old.ts, 1, 10) AND intent = old.intent
        AND old.decision = 'answer';
    DELETE FROM intent_days WHERE day = substr(old.ts, 1, 10) AND intent = old.intent AND n <= 0;
END;

-- Corrections made by hand (e.g. in datasette) keep the summaries right.
CREATE TRIGGER enquiry_days_update AFTER UPDATE OF ts, channel, decision, intent, via ON enquiries BEGIN
    UPDATE enquiry_days SET n = n - 1 WHERE day = substr(old.ts, 1, 10) AND channel = old.channel
        AND decision = old.decision AND via = old.via;
    DELETE FROM enquiry_days WHERE day = substr(old.ts, 1, 10) AND channel = old.channel
        AND decision = old.decision AND via = old.via AND n <= 0;
    UPDATE intent_days SET n = n - 1 WHERE day = substr(old.ts, 1, 10) AND intent = old.intent
        AND old.decision = 'answer';
    DELETE FROM intent_days WHERE day = substr(old.ts, 1, 10) AND intent = old.intent AND n <= 0;
    INSERT INTO enquiry_days (day, channel, decision, via, n)
    VALUES (substr(new.ts, 1, 10), new.channel, new.decision, new.via, 1)
    ON CONFLICT (day, channel, decision, via) DO UPDATE SET n = n + 1;
    INSERT INTO intent_days (day, intent, n)
    SELECT substr(new.ts, 1, 10), new.intent, 1 WHERE new.decision = 'answer' AND new.intent IS NOT NULL
    ON CONFLICT (day, intent) DO UPDATE SET n = n + 1;
END;

-- Latency percentiles read the index in order instead of sorting every row.
CREATE INDEX idx_enquiries_latency ON enquiries (latency_ms, ts);
-- The newest-first enquiry list filtered by channel, and the latest feedback of each enquiry.
CREATE INDEX idx_enquiries_channel_ts ON enquiries (channel, ts);
CREATE INDEX idx_feedback_enquiry_id ON feedback (enquiry_id, id);
CREATE INDEX idx_feedback_ts ON feedback (ts);
