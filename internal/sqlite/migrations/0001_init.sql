-- 0001_init: agents, credentials, forwards, messages, deliveries, held
-- mail and events.
--
-- Times are INTEGER unix nanoseconds in UTC, 0 for "none", so they
-- round-trip exactly. Lists are compact JSON text, '' when empty.
-- AUTOINCREMENT on agents, messages and events keeps IDs from ever being
-- reused, even after deletes and a Reset: a reused agent ID would hand a
-- new agent an old agent's history, and a reused event ID would confuse a
-- follower resuming from it.

CREATE TABLE agents (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	name          TEXT    NOT NULL UNIQUE,
	role          TEXT    NOT NULL DEFAULT '',
	capabilities  TEXT    NOT NULL DEFAULT '',
	description   TEXT    NOT NULL DEFAULT '',
	project       TEXT    NOT NULL DEFAULT '',
	client        TEXT    NOT NULL DEFAULT '',
	host          TEXT    NOT NULL DEFAULT '',
	pid           INTEGER NOT NULL DEFAULT 0,
	status_text   TEXT    NOT NULL DEFAULT '',
	state         TEXT    NOT NULL DEFAULT '',
	registered_at INTEGER NOT NULL DEFAULT 0,
	last_seen     INTEGER NOT NULL DEFAULT 0,
	-- last_seq is the sequence number of the agent's newest delivery; only
	-- Deliver changes it.
	last_seq      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX agents_role ON agents (role, name);

CREATE TABLE credentials (
	token_hash BLOB    PRIMARY KEY,
	agent_id   INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	open       INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX credentials_agent ON credentials (agent_id);

CREATE TABLE forwards (
	from_name  TEXT    PRIMARY KEY,
	agent_id   INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	to_name    TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX forwards_agent ON forwards (agent_id);
CREATE INDEX forwards_expires ON forwards (expires_at);

-- Messages are append-only. from_id has no foreign key: history outlives
-- a deregistered sender. Only retention (ExpireMessages) deletes single
-- messages, and it sends the FTS 'delete' command (external content).
-- Message IDs only grow, which is what lets the writer index new messages
-- by ID range.
CREATE TABLE messages (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	from_id          INTEGER NOT NULL,
	from_name        TEXT    NOT NULL,
	to_json          TEXT    NOT NULL DEFAULT '',
	thread           TEXT    NOT NULL,
	reply_to         INTEGER NOT NULL DEFAULT 0,
	subject          TEXT    NOT NULL DEFAULT '',
	body             TEXT    NOT NULL DEFAULT '',
	importance       TEXT    NOT NULL DEFAULT '',
	ack_required     INTEGER NOT NULL DEFAULT 0,
	attachments_json TEXT    NOT NULL DEFAULT '',
	created_at       INTEGER NOT NULL,
	idem_key         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX messages_thread ON messages (thread, id);
CREATE INDEX messages_from ON messages (from_id, id);
CREATE UNIQUE INDEX messages_idem ON messages (from_id, idem_key) WHERE idem_key <> '';

CREATE VIRTUAL TABLE messages_fts USING fts5 (
	subject, body,
	content = 'messages', content_rowid = 'id',
	tokenize = 'unicode61 remove_diacritics 2'
);
-- No trigger keeps messages_fts in step: the writer indexes a batch's new
-- messages just before its COMMIT, outside the per-Update savepoints.
-- FTS5 flushes its pending index to disk at every savepoint once it has
-- been written in a transaction, so indexing inside each savepoint cost
-- more than the rest of a send put together.

-- One row per recipient of a message. WITHOUT ROWID: the primary key is
-- the inbox order, so an inbox read is one range scan with no extra index.
CREATE TABLE deliveries (
	agent_id   INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	seq        INTEGER NOT NULL,
	message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	state      TEXT    NOT NULL,
	read_at    INTEGER NOT NULL DEFAULT 0,
	acked_at   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
-- Unique: an agent has at most one delivery of a message.
CREATE UNIQUE INDEX deliveries_message ON deliveries (message_id, agent_id);
-- Unread counts and unread-only reads touch only unread rows.
CREATE INDEX deliveries_unread ON deliveries (agent_id, seq) WHERE state = 'unread';

-- Mail for names nobody has registered yet.
CREATE TABLE held (
	name       TEXT    NOT NULL,
	message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (name, message_id)
) WITHOUT ROWID;
CREATE INDEX held_message ON held (message_id);
CREATE INDEX held_expires ON held (expires_at);

CREATE TABLE events (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	kind    TEXT    NOT NULL,
	time    INTEGER NOT NULL,
	actor   TEXT    NOT NULL DEFAULT '',
	targets TEXT    NOT NULL DEFAULT '',
	subject TEXT    NOT NULL DEFAULT '',
	data    BLOB
);

-- Reset empties every table except SQLite's own, the shadow tables of
-- virtual tables, this one, and the tables named here: a migration that
-- adds a table whose rows must survive a reset (durable counters that
-- only grow, say) lists it here.
CREATE TABLE keep_on_reset (
	name TEXT PRIMARY KEY
) WITHOUT ROWID;
