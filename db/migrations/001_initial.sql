-- 001: the enquiry log, feedback, staff handoffs and replies, per-user preferences.
CREATE TABLE enquiries (
    id TEXT PRIMARY KEY,
    ts TEXT NOT NULL,                -- UTC, ISO 8601 with microseconds
    channel TEXT NOT NULL,           -- telegram | web | terminal
    user_key TEXT,                   -- keyed hash of the platform user id (pseudonym)
    raw_user_id TEXT,                -- only when VOCBOT_STORE_RAW_IDS is on
    chat_type TEXT,
    lang TEXT,
    audience TEXT,
    text TEXT NOT NULL,
    normalized TEXT,
    decision TEXT NOT NULL,
    intent TEXT,
    score REAL,
    candidates TEXT,                 -- JSON [{"intent", "score"}]
    latency_ms REAL,
    intents_version TEXT,
    via TEXT NOT NULL DEFAULT 'text', -- text: typed question; button: a pressed choice or follow-up
    parent_id TEXT                   -- for a button: the enquiry whose reply offered it
);
CREATE INDEX idx_enquiries_ts ON enquiries (ts);
CREATE INDEX idx_enquiries_decision_ts ON enquiries (decision, ts);
CREATE INDEX idx_enquiries_intent ON enquiries (intent);

CREATE TABLE feedback (
    id INTEGER PRIMARY KEY,
    enquiry_id TEXT NOT NULL REFERENCES enquiries (id),
    ts TEXT NOT NULL,
    value INTEGER NOT NULL CHECK (value IN (-1, 1)),
    comment TEXT,
    user_key TEXT
);
CREATE INDEX idx_feedback_enquiry ON feedback (enquiry_id);

CREATE TABLE handoffs (
    id INTEGER PRIMARY KEY,
    enquiry_id TEXT REFERENCES enquiries (id),
    ts TEXT NOT NULL,
    channel TEXT NOT NULL,
    user_key TEXT,
    reply_to TEXT,                   -- where a staff reply is delivered (a chat id); needed to answer
    staff_message_id TEXT,
    status TEXT NOT NULL DEFAULT 'open'
);
CREATE INDEX idx_handoffs_staff_message ON handoffs (staff_message_id);

CREATE TABLE staff_replies (
    id INTEGER PRIMARY KEY,
    handoff_id INTEGER NOT NULL REFERENCES handoffs (id),
    enquiry_id TEXT,
    ts TEXT NOT NULL,
    text TEXT NOT NULL,
    staff_key TEXT
);

CREATE TABLE user_prefs (
    user_key TEXT PRIMARY KEY,
    audience TEXT,
    lang TEXT,
    updated TEXT NOT NULL
);
