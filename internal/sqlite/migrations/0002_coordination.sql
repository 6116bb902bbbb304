-- 0002_coordination: commands, channels, signals, proposals and votes,
-- leases, shared state, and durable counters.
--
-- As in 0001, times are INTEGER unix nanoseconds (0 for none) and lists
-- are compact JSON text. JSON values (params, results, posts, signal
-- data, state values) are stored as the compact JSON text they arrived as.

CREATE TABLE commands (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	from_id       INTEGER NOT NULL,
	from_name     TEXT    NOT NULL,
	target        TEXT    NOT NULL,
	-- target_id is the agent addressed by name, 0 for a role; target_role
	-- the role addressed, '' for a name.
	target_id     INTEGER NOT NULL DEFAULT 0,
	target_role   TEXT    NOT NULL DEFAULT '',
	action        TEXT    NOT NULL,
	params        TEXT    NOT NULL,
	status        TEXT    NOT NULL,
	result        TEXT,
	error         TEXT    NOT NULL DEFAULT '',
	claimed_by    TEXT    NOT NULL DEFAULT '',
	claimed_by_id INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	claimed_at    INTEGER NOT NULL DEFAULT 0,
	finished_at   INTEGER NOT NULL DEFAULT 0,
	deadline      INTEGER NOT NULL DEFAULT 0
);
-- A claim looks for the oldest pending command of an agent or its role.
CREATE INDEX commands_pending_agent ON commands (target_id, id) WHERE status = 'pending';
CREATE INDEX commands_pending_role ON commands (target_role, id) WHERE status = 'pending';
CREATE INDEX commands_target ON commands (target_id, id);
CREATE INDEX commands_claimer ON commands (claimed_by_id, id);
CREATE INDEX commands_from ON commands (from_id, id);
CREATE INDEX commands_status ON commands (status, id);
CREATE INDEX commands_due ON commands (deadline) WHERE status IN ('pending', 'claimed') AND deadline <> 0;

-- last_seq only grows, so a channel's sequence numbers are never reused
-- when old posts are dropped.
CREATE TABLE channels (
	name         TEXT    PRIMARY KEY,
	last_seq     INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	last_post_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE channel_posts (
	channel    TEXT    NOT NULL REFERENCES channels (name) ON DELETE CASCADE,
	seq        INTEGER NOT NULL,
	from_name  TEXT    NOT NULL DEFAULT '',
	data       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (channel, seq)
) WITHOUT ROWID;
CREATE INDEX channel_posts_created ON channel_posts (created_at);

-- One row per emitted signal; clearing deletes it.
CREATE TABLE signals (
	name       TEXT    PRIMARY KEY,
	data       TEXT,
	by_name    TEXT    NOT NULL DEFAULT '',
	emitted_at INTEGER NOT NULL,
	count      INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;

CREATE TABLE proposals (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	from_id    INTEGER NOT NULL,
	from_name  TEXT    NOT NULL,
	question   TEXT    NOT NULL,
	options    TEXT    NOT NULL,
	voters     TEXT    NOT NULL,
	rule       TEXT    NOT NULL,
	deadline   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	status     TEXT    NOT NULL,
	outcome    TEXT    NOT NULL DEFAULT '',
	reason     TEXT    NOT NULL DEFAULT '',
	decided_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX proposals_status ON proposals (status, id);
CREATE INDEX proposals_due ON proposals (deadline) WHERE status = 'open' AND deadline <> 0;

-- One vote per voter: a changed vote replaces the row.
CREATE TABLE votes (
	proposal_id INTEGER NOT NULL REFERENCES proposals (id) ON DELETE CASCADE,
	voter       TEXT    NOT NULL,
	choice      TEXT    NOT NULL,
	comment     TEXT    NOT NULL DEFAULT '',
	at          INTEGER NOT NULL,
	PRIMARY KEY (proposal_id, voter)
) WITHOUT ROWID;

-- Leases outlive their holder's registration until they expire.
CREATE TABLE leases (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	holder_id  INTEGER NOT NULL,
	holder     TEXT    NOT NULL,
	patterns   TEXT    NOT NULL,
	exclusive  INTEGER NOT NULL,
	reason     TEXT    NOT NULL DEFAULT '',
	token      INTEGER NOT NULL,
	granted_at INTEGER NOT NULL,
	renewed_at INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL
);
CREATE INDEX leases_expires ON leases (expires_at);

CREATE TABLE state (
	key        TEXT    PRIMARY KEY,
	value      TEXT    NOT NULL,
	revision   INTEGER NOT NULL,
	updated_by TEXT    NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Durable counters (fencing tokens, state revisions) only grow: a reset
-- keeps them, so a token or revision is never handed out twice.
CREATE TABLE counters (
	name  TEXT    PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO keep_on_reset (name) VALUES ('counters');
