from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    name = "workstation.clinical"
    label = "clinical"
    verbose_name = "Clinical context"
