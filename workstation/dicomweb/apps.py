from django.apps import AppConfig


class DicomwebConfig(AppConfig):
    """DICOM interoperability: DICOMweb, and the hooks that fetch priors and publish AI results."""

    name = "workstation.dicomweb"
    label = "dicomweb"
    verbose_name = "DICOM interoperability"

    def ready(self) -> None:
        from workstation.dicomweb import signals

        signals.connect()
