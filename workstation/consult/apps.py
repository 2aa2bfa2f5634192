from django.apps import AppConfig


class ConsultConfig(AppConfig):
    name = "workstation.consult"
    label = "consult"
    verbose_name = "Consultation"

    def ready(self) -> None:
        from workstation.consult import signals

        signals.connect()
