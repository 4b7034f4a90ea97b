-- pgkeel:backfill table=leads key=id batch=500 pause=10ms
UPDATE leads SET email_domain = lower(split_part(email, '@', 2))
 WHERE id BETWEEN :from AND :to AND email_domain IS NULL;
