-- Review cases of the privacy office (src/cases): opened by break-the-glass, protection changes and
-- the detector, closed by a reviewer. `key` deduplicates: one user, patient and day (one user and
-- hour for volume) is one case, whichever replica saw it first. The whole case is `body` (jsonb);
-- the columns beside it are what lists and metrics filter on.
CREATE TABLE review_cases (
  id uuid PRIMARY KEY,
  key text NOT NULL UNIQUE,
  kind text NOT NULL CHECK (kind IN ('break-glass', 'protection-change', 'detection')),
  status text NOT NULL CHECK (status IN ('open', 'justified', 'unjustified')),
  severity text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
  opened_at timestamptz NOT NULL,
  iss text NOT NULL,
  sub text,
  patient text,
  signals text[] NOT NULL,
  body jsonb NOT NULL
);

CREATE INDEX review_cases_open ON review_cases (opened_at) WHERE status = 'open';
CREATE INDEX review_cases_status ON review_cases (status, opened_at);
CREATE INDEX review_cases_patient ON review_cases (patient, opened_at);
CREATE INDEX review_cases_subject ON review_cases (iss, sub, opened_at);
