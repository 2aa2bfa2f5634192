from django.apps import AppConfig
from django.db.models.signals import post_save


class DashboardsConfig(AppConfig):
    name = "workstation.dashboards"
    label = "dashboards"
    verbose_name = "Dashboards and model monitoring"

    def ready(self) -> None:
        from reports.models import AiDraft
        from workstation.dashboards.signals import ai_draft_saved, draft_job_created
        from workstation.studies.models import DraftJob

        post_save.connect(draft_job_created, sender=DraftJob, dispatch_uid="dashboards-ab")
        post_save.connect(ai_draft_saved, sender=AiDraft, dispatch_uid="dashboards-shadow")
