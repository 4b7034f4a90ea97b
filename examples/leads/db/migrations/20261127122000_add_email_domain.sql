-- Filled by the backfill db/backfills/20261127130000_leads_email_domain.sql,
-- in short batches, instead of one long UPDATE inside this migration.
ALTER TABLE leads ADD COLUMN email_domain text;
