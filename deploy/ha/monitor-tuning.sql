-- The monitor's failure detection (pg_auto_failover 2.0), read at reload.  Why these values:
-- docs/failover.md ("Health checks").
ALTER SYSTEM SET pgautofailover.health_check_period = 1000;       -- default 5000 ms
ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000;      -- default 5000 ms
ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1;     -- default 2
ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500;   -- default 2000 ms
ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 4000;  -- default 20000 ms
ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 4000;    -- default 30000 ms
SELECT pg_reload_conf();
