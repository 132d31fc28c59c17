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
  -- Patients whose data was released or changed, and those with data withheld (ids; indexed by
  -- audit_record_patients below).
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
CREATE INDEX audit_records_decision ON audit_records (decision, time);
CREATE INDEX audit_records_reasons ON audit_records USING gin (reasons);
CREATE INDEX audit_records_break_glass ON audit_records (time) WHERE break_glass;
CREATE INDEX audit_records_purpose ON audit_records USING gin (purpose_of_use);
CREATE INDEX audit_records_policy_revision ON audit_records (policy_revision, time);
CREATE INDEX audit_records_chain ON audit_records (instance, seq);

-- Who saw this patient, fast at any size: one row per (patient, record), partitioned by month like
-- audit_records and dropped with it. The primary key (patient, time, delivery_id) is the index a
-- patient's history pages along (newest or oldest first), whatever the table's total size; the
-- record itself is joined on audit_records' primary key. (A GIN index on audit_records.patients
-- finds a patient's records too, but cannot give them in time order: a page of the newest 50 would
-- fetch and sort all of them, or walk the time index through everyone else's.)
CREATE TABLE audit_record_patients (
  patient text NOT NULL,
  time timestamptz NOT NULL,
  delivery_id text NOT NULL,
  -- Data of the patient released or changed by the record / withheld from it (both can be true).
  released boolean NOT NULL,
  withheld boolean NOT NULL,
  PRIMARY KEY (patient, time, delivery_id)
) PARTITION BY RANGE (time);
