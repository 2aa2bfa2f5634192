from django.apps import AppConfig


class WorkstationConfig(AppConfig):
    name = "workstation"
    verbose_name = "Radiology workstation"
