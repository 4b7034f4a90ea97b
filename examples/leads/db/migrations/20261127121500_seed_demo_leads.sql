-- Demo rows so the example has data to work on.
INSERT INTO leads (email, name, source)
SELECT 'lead' || g || '@example.com', CASE WHEN g % 3 = 0 THEN NULL ELSE 'Lead ' || g END, 'web'
  FROM generate_series(1, 2000) AS g;
