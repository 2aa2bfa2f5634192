from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "workstation.studies"
    label = "studies"
    verbose_name = "Studies"
