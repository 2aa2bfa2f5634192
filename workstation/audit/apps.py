from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "workstation.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from workstation.audit import signals

        signals.connect()
