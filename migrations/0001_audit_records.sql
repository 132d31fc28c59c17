-- The audit store: one row per sealed audit record (requests and checkpoints), partitioned by month
-- of the record's time. Partitions are created ahead of the records that need them and dropped whole
-- when they pass the retention horizon (src/audit/store/partitions.ts).
--
-- The whole record is `record` (jsonb); the columns beside it are copies of its fields that queries
-- filter on, indexed. `delivery_id` is `<instance>/<seq>`: a record delivered again (a retry after a
-- lost reply, a replay from the spool after a restart) carries the same id and the same time, so
-- `ON CONFLICT (delivery_id, time) DO NOTHING` stores it exactly once. (A unique key of a partitioned
-- table must include the partition key; the time of a delivery id never changes.)
CREATE TABLE audit_records (
  time timestamptz NOT NULL,
  delivery_id text NOT NULL,
  instance text NOT NULL,
  seq bigint NOT NULL,
  kind text NOT NULL CHECK (kind IN ('request', 'checkpoint')),
  schema_version int NOT NULL,
  iss text,
  sub text,
  client_id text,
  jti text,
  address text,
  interaction text,
  resource_type text,
  decision text,
  status int,
  reasons text[] NOT NULL DEFAULT '{}',
  break_glass boolean NOT NULL DEFAULT false,
  purpose_of_use text[] NOT NULL DEFAULT '{}',
  policy_revision text,
  -- Patients whose data was released or changed, and those with data withheld (ids).
  patients text[] NOT NULL DEFAULT '{}',
  withheld_patients text[] NOT NULL DEFAULT '{}',
  prev text NOT NULL,
  hash text NOT NULL,
  alg text NOT NULL,
  record jsonb NOT NULL,
  PRIMARY KEY (delivery_id, time)
) PARTITION BY RANGE (time);

CREATE INDEX audit_records_time ON audit_records (time);
CREATE INDEX audit_records_subject ON audit_records (iss, sub, time);
CREATE INDEX audit_records_client ON audit_records (client_id, time);
CREATE INDEX audit_records_jti ON audit_records (jti) WHERE jti IS NOT NULL;
CREATE INDEX audit_records_address ON audit_records (address, time) WHERE address IS NOT NULL;
CREATE INDEX audit_records_patients ON audit_records USING gin (patients);
CREATE INDEX audit_records_withheld_patients ON audit_records USING gin (withheld_patients);
CREATE INDEX audit_records_decision ON audit_records (decision, time);
CREATE INDEX audit_records_reasons ON audit_records USING gin (reasons);
CREATE INDEX audit_records_break_glass ON audit_records (time) WHERE break_glass;
CREATE INDEX audit_records_purpose ON audit_records USING gin (purpose_of_use);
CREATE INDEX audit_records_policy_revision ON audit_records (policy_revision, time);
CREATE INDEX audit_records_chain ON audit_records (instance, seq);
