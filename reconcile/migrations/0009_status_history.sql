-- 0009_status_history: every estimate's statuses, kept, so a scheduled run can say what
-- changed since the previous one (`run --json` "changes", `status`).
-- One row per model per estimate; computed_at is the estimate's (one value per estimate).
CREATE TABLE status_history (
    model_id        VARCHAR NOT NULL,
    status          VARCHAR NOT NULL,
    flops_central   DOUBLE,
    computed_at     TIMESTAMPTZ NOT NULL
);

-- The statuses standing when this migration ran are the first entry of the history.
INSERT INTO status_history
SELECT model_id, status, flops_central, computed_at FROM compliance_status;
