-- pgkeel:lock-timeout 2s
-- A scoring function with a dollar-quoted body full of semicolons.
CREATE FUNCTION lead_score(l leads) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE
  score integer := 0;
BEGIN
  IF l.name IS NOT NULL THEN score := score + 10; END IF;
  IF l.email LIKE '%@%.%' THEN score := score + 5; END IF;
  IF l.status = 'contacted' THEN score := score + 20; END IF;
  RETURN score;
END;
$$;

ALTER TYPE lead_status ADD VALUE IF NOT EXISTS 'qualified' AFTER 'contacted';
