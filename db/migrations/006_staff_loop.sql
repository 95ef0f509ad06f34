-- 006: the closed loop (issue 15): staff accounts, versions of intents, and opt-in notices.

-- Staff who may sign in to the dashboard; passwords hashed with argon2id (argon2-cffi).
CREATE TABLE staff_accounts (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);

-- Every change of an intent saved from the dashboard (or restored): who, when, the YAML after it and the diff.
CREATE TABLE intent_versions (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    author TEXT NOT NULL,
    intent TEXT NOT NULL,
    file TEXT NOT NULL,              -- the file's name under intents/
    action TEXT NOT NULL,            -- create | edit | restore (promoted examples are in `promotions`)
    body TEXT NOT NULL,              -- the intent's YAML after the change
    diff TEXT NOT NULL               -- unified diff of the file against the version before
);
CREATE INDEX idx_intent_versions_intent ON intent_versions (intent, id);

-- "Tell me when there is an answer": one row per opt-in. status: pending -> sending -> told, or withdrawn.
CREATE TABLE optins (
    id INTEGER PRIMARY KEY,
    enquiry_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    channel TEXT NOT NULL,
    user_key TEXT NOT NULL,          -- pseudonym (for the web: of the browser's session id)
    reply_to TEXT,                   -- sealed reply address (Telegram chat id); NULL once used or withdrawn
    question TEXT NOT NULL,
    lang TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    intent TEXT,                     -- the intent the notice carried
    notified_at TEXT,
    UNIQUE (enquiry_id, user_key)
);
CREATE INDEX idx_optins_status ON optins (status, channel);
CREATE INDEX idx_optins_user ON optins (user_key, status);
