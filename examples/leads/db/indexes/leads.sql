-- Built with CREATE INDEX CONCURRENTLY by `pgkeel indexes` (or `pgkeel run`),
-- never blocking writes; an interrupted build is dropped and built again.
CREATE UNIQUE INDEX leads_email_lower_idx ON leads (lower(email));
CREATE INDEX leads_open_created_idx ON leads (created_at) WHERE status IN ('new', 'contacted');
CREATE INDEX lead_notes_lead_id_idx ON lead_notes (lead_id);
