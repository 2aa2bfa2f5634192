"""Questions and critical results are records: the database refuses to rewrite them.

A question row is never updated or deleted. A critical result is never deleted, and its only
permitted update is the acknowledgement: unacknowledged -> acknowledged (who and when), with
every other column unchanged. TRUNCATE (the test runner's flush) is not a row operation.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION consult_question_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% on %: questions and answers are append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consult_question_append_only
    BEFORE UPDATE OR DELETE ON consult_question
    FOR EACH ROW EXECUTE FUNCTION consult_question_refuse_change();

CREATE OR REPLACE FUNCTION consult_criticalresult_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'DELETE on %: critical results are kept', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.acknowledged_at IS NOT NULL
       OR NEW.acknowledged_at IS NULL
       OR NEW.report_id IS DISTINCT FROM OLD.report_id
       OR NEW.study_id IS DISTINCT FROM OLD.study_id
       OR NEW.recipient_id IS DISTINCT FROM OLD.recipient_id
       OR NEW.labels IS DISTINCT FROM OLD.labels
       OR NEW.signed_version IS DISTINCT FROM OLD.signed_version
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'UPDATE on %: only a first acknowledgement may be recorded', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consult_criticalresult_guard
    BEFORE UPDATE OR DELETE ON consult_criticalresult
    FOR EACH ROW EXECUTE FUNCTION consult_criticalresult_guard();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS consult_criticalresult_guard ON consult_criticalresult;
DROP FUNCTION IF EXISTS consult_criticalresult_guard();
DROP TRIGGER IF EXISTS consult_question_append_only ON consult_question;
DROP FUNCTION IF EXISTS consult_question_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("consult", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
