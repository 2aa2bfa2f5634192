from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "workstation.accounts"
    label = "accounts"
    verbose_name = "Users and roles"

    def ready(self) -> None:
        from workstation.accounts.roles import roles_ensure_on_migrate

        post_migrate.connect(roles_ensure_on_migrate, sender=self)
