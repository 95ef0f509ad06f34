-- 004: questions stored capped (first 2,000 characters) with their full length, and reply addresses never in clear.

-- The full length of the question in characters, and 1 when only its first 2,000 characters were stored.
ALTER TABLE enquiries ADD COLUMN text_length INTEGER;
ALTER TABLE enquiries ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0;
UPDATE enquiries SET text_length = length(text);

-- Reply addresses stored in clear by older versions: those of answered handoffs are no longer needed and go;
-- the open ones are sealed by vocbot at start-up (sealing needs the key, which SQL does not have).
UPDATE handoffs SET reply_to = NULL WHERE reply_to IS NOT NULL AND reply_to NOT LIKE 's1:%' AND status != 'open';
