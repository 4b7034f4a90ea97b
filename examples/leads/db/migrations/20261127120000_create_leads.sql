-- Leads captured from the web form.
CREATE TYPE lead_status AS ENUM ('new', 'contacted', 'won', 'lost');

CREATE TABLE leads (
  id          bigserial PRIMARY KEY,
  email       text NOT NULL,
  name        text,
  status      lead_status NOT NULL DEFAULT 'new',
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lead_notes (
  id       bigserial PRIMARY KEY,
  lead_id  bigint NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
  body     text NOT NULL  -- free text; may hold semicolons;
);
