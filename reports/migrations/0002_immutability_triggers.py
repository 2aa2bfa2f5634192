"""Immutability in the database itself, so no code path (ORM, admin, raw SQL from the app's
connection) can change a recorded version or a signature.

- reports_reportversion, reports_findingdecision: no UPDATE, no DELETE, ever.
- reports_report: once signed, signed_at / signed_by_id / signed_number cannot change, the
  status cannot go back to draft, and the row cannot be deleted.

TRUNCATE (the test runner's flush) is not a row operation and is not blocked; a role that may
disable triggers (the table owner, a superuser) can still bypass them: production should run
the web processes as a role that owns nothing.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION reports_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% on %: report versions and finding decisions are immutable',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER reportversion_immutable
    BEFORE UPDATE OR DELETE ON reports_reportversion
    FOR EACH ROW EXECUTE FUNCTION reports_refuse_change();

CREATE TRIGGER findingdecision_immutable
    BEFORE UPDATE OR DELETE ON reports_findingdecision
    FOR EACH ROW EXECUTE FUNCTION reports_refuse_change();

CREATE OR REPLACE FUNCTION reports_guard_signature() RETURNS trigger AS $$
BEGIN
    IF OLD.signed_at IS NULL THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'report %: a signed report cannot be deleted', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.signed_at IS DISTINCT FROM OLD.signed_at
       OR NEW.signed_by_id IS DISTINCT FROM OLD.signed_by_id
       OR NEW.signed_number IS DISTINCT FROM OLD.signed_number
       OR NEW.study_id IS DISTINCT FROM OLD.study_id
       OR NEW.status = 'draft' THEN
        RAISE EXCEPTION 'report %: the signature of a signed report cannot change', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER report_signature_immutable
    BEFORE UPDATE OR DELETE ON reports_report
    FOR EACH ROW EXECUTE FUNCTION reports_guard_signature();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS report_signature_immutable ON reports_report;
DROP FUNCTION IF EXISTS reports_guard_signature();
DROP TRIGGER IF EXISTS findingdecision_immutable ON reports_findingdecision;
DROP TRIGGER IF EXISTS reportversion_immutable ON reports_reportversion;
DROP FUNCTION IF EXISTS reports_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
