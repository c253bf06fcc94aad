-- Retention of webhook delivery records (history.keep_days): the oldest
-- deliveries are found from an index rather than by reading the table.
CREATE INDEX deliveries_received ON deliveries (received_at);
