-- 0003_unread_count: each agent's number of unread deliveries, kept with
-- the agent, so that reads and peer lists count in constant time instead
-- of walking the unread deliveries (an agent that only peeks with a since
-- cursor can hold millions).
--
-- Deliver adds one in the statement that takes the next sequence number
-- (no trigger on the send path); the trigger takes one off whenever a
-- delivery leaves the unread state, whatever statement moves it.
-- Deliveries are deleted with their agent or by a reset, which removes
-- the count with them, or by retention (ExpireMessages), which deletes
-- no unread delivery.

ALTER TABLE agents ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;

UPDATE agents SET unread = (
	SELECT count(*) FROM deliveries INDEXED BY deliveries_unread
	WHERE deliveries.agent_id = agents.id AND deliveries.state = 'unread'
);

CREATE TRIGGER deliveries_left_unread AFTER UPDATE OF state ON deliveries
WHEN old.state = 'unread' AND new.state <> 'unread'
BEGIN
	UPDATE agents SET unread = unread - 1 WHERE id = new.agent_id;
END;
