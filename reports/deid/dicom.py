"""De-identifying DICOM instances per PS3.15 Annex E, Basic Application Level Confidentiality
Profile, with the Retain Longitudinal Temporal Information (Modified Dates) and Retain Patient
Characteristics options, using dicognito.

dicognito does the element-level work it is built for: UIDs remapped (the same original UID
gives the same new UID for the whole export), dates shifted, IDs, addresses and equipment
identity replaced. Around it this module removes what dicognito keeps but the profile removes
(private tags, overlays, free-text descriptions and comments, request and referenced-patient
sequences: ``BASIC_PROFILE_REMOVE``), shifts dates by a per-patient number of whole days
(times of day and one patient's intervals are kept), empties every person name, caps ages
over 89, writes the de-identification attributes, and finally looks for any of the source's
own PHI strings left anywhere (:meth:`DicomDeidentifier.residue`). Imports no Django.
"""

from __future__ import annotations

import datetime as dt

from dicognito import __version__ as dicognito_version
from dicognito.anonymizer import Anonymizer
from dicognito.datetimeanonymizer import DateTimeAnonymizer
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset

from reports.deid.text import PhiTerms, phi_text_find

PROFILE = "DICOM PS3.15 E.1 Basic Application Level Confidentiality Profile"

#: (code value, code meaning) in DCM: the profile and the options this export applies.
METHOD_CODES: tuple[tuple[str, str], ...] = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113108", "Retain Patient Characteristics Option"),  # sex and (capped) age only
)

#: Removed wherever they occur (nested sequences included): Basic Profile action X (or X/Z/D,
#: X/D, X/Z) in PS3.15 Table E.1-1 for elements dicognito leaves in place or that a training
#: set does not need. Patient's Sex and Age stay (Retain Patient Characteristics).
_REMOVE_KEYWORDS = """
    AcquisitionComments AcquisitionContextSequence AcquisitionDeviceProcessingDescription
    AcquisitionProtocolDescription ActualHumanPerformersSequence AdditionalPatientHistory
    AdmissionID AdmittingDiagnosesCodeSequence AdmittingDiagnosesDescription Allergies Arbitrary
    AuthorObserverSequence BranchOfService CommentsOnThePerformedProcedureStep
    ConfidentialityConstraintOnPatientDataDescription ConsultingPhysicianIdentificationSequence
    ContentSequence ContributionDescription CountryOfResidence CurrentPatientLocation
    CustodialOrganizationSequence DataSetTrailingPadding DerivationDescription DeviceSerialNumber
    DigitalSignaturesSequence DischargeDiagnosisDescription DistributionAddress DistributionName
    EncryptedAttributesSequence EthnicGroup FrameComments HumanPerformerName
    HumanPerformerOrganization IconImageSequence ImageComments ImagePresentationComments
    ImagingServiceRequestComments InstitutionAddress InstitutionCodeSequence
    InstitutionalDepartmentName InstitutionName InterpretationApproverSequence
    IssuerOfAdmissionID IssuerOfPatientID IssuerOfPatientIDQualifiersSequence MACParametersSequence
    MedicalAlerts MedicalRecordLocator MilitaryRank ModifiedAttributesSequence
    NameOfPhysiciansReadingStudy Occupation OperatorIdentificationSequence OperatorsName
    OriginalAttributesSequence OtherPatientIDs OtherPatientIDsSequence OtherPatientNames
    PatientAddress PatientBirthName PatientBirthTime PatientComments PatientInstitutionResidence
    PatientInsurancePlanCodeSequence PatientMotherBirthName PatientPrimaryLanguageCodeSequence
    PatientReligiousPreference PatientSize PatientState PatientTelecomInformation
    PatientTelephoneNumbers PatientTransportArrangements PatientWeight PerformedLocation
    PerformedProcedureStepDescription PerformedStationAETitle PerformedStationName
    PerformingPhysicianIdentificationSequence PerformingPhysicianName PhysiciansOfRecord
    PhysiciansOfRecordIdentificationSequence PhysiciansReadingStudyIdentificationSequence
    PreMedication PregnancyStatus ProtocolName ReasonForStudy ReasonForTheImagingServiceRequest
    ReasonForTheRequestedProcedure ReferencedPatientAliasSequence ReferencedPatientPhotoSequence
    ReferencedPatientSequence ReferencedPerformedProcedureStepSequence ReferencedStudySequence
    ReferringPhysicianAddress ReferringPhysicianIdentificationSequence
    ReferringPhysicianTelephoneNumbers RegionOfResidence RequestAttributesSequence
    RequestedContrastAgent RequestedProcedureComments RequestedProcedureDescription
    RequestedProcedureLocation RequestingPhysician RequestingService ResponsibleOrganization
    ResponsiblePerson ResultsComments ScheduledPerformingPhysicianIdentificationSequence
    ScheduledProcedureStepDescription ScheduledProcedureStepLocation ScheduledStationAETitle
    ScheduledStationName SeriesDescription ServiceEpisodeDescription ServiceEpisodeID
    SmokingStatus SpecialNeeds StationName StorageMediaFileSetID StudyComments StudyDescription
    TextComments TextString TopicAuthor TopicKeywords TopicSubject TopicTitle
    VerifyingObserverIdentificationCodeSequence VerifyingOrganization VisitComments
"""
BASIC_PROFILE_REMOVE = frozenset(_REMOVE_KEYWORDS.split())

#: Repeating groups that may hold burned-in-like text or drawings (overlays, curves).
_REMOVED_GROUP_RANGES = ((0x5000, 0x50FF), (0x6000, 0x60FF))
# Numeric bulk data: no text can hide in it. OB/OW/UN values (an encapsulated document, an
# ICC profile, a vendor's blob) are searched as bytes: a name can hide in any of them.
_NUMERIC_BULK_VRS = frozenset({"OF", "OD", "OL", "OV"})
_WRITTEN_HERE = ("DeidentificationMethod", "DeidentificationMethodCodeSequence")
_OLDEST_AGE = 90  # HIPAA Safe Harbor: ages over 89 are reported as 90


class DeidentificationError(ValueError):
    """The instance could not be de-identified (a malformed value dicognito cannot shift)."""


class _PatientDates(DateTimeAnonymizer):
    """dicognito's date shifter with an offset set per instance (per patient) by the caller."""

    def __init__(self) -> None:
        super().__init__(0)

    def days_set(self, days_back: int) -> None:
        self.offset = dt.timedelta(days=-days_back)


class DicomDeidentifier:
    """The de-identifier of one export: one dicognito ``Anonymizer`` seeded by the caller, so
    every UID maps to the same new UID across the export; the seed is never written out."""

    def __init__(self, *, seed: str) -> None:
        self._anonymizer = Anonymizer(seed=seed)
        self._dates = _PatientDates()
        # Handlers added later run first: ours takes every DA/DT before dicognito's own.
        self._anonymizer.add_element_handler(self._dates)

    @staticmethod
    def method_description() -> list[str]:
        """The De-identification Method values (each at most 64 characters, VR LO)."""
        return [PROFILE[:64], f"dicognito {dicognito_version}"[:64], "per-patient date shift"]

    def deidentify(self, ds: Dataset, *, shift_days: int, pseudo_patient_id: str) -> None:
        """De-identify ``ds`` in place.

        ``shift_days`` moves every date back (the same value for every instance of a patient
        keeps their intervals); ``pseudo_patient_id`` becomes Patient ID and Patient's Name.
        Raises :class:`DeidentificationError`.
        """
        ds.remove_private_tags()
        for tag in [element.tag for element in ds if _in_removed_group(element.tag.group)]:
            del ds[tag]
        ds.walk(_remove_profile_elements)
        self._dates.days_set(shift_days)
        try:
            self._anonymizer.anonymize(ds)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            raise DeidentificationError(f"dicognito could not de-identify: {exc}") from exc
        ds.walk(_empty_person_names)
        ds.PatientName = pseudo_patient_id
        ds.PatientID = pseudo_patient_id
        ds.PatientBirthDate = ""
        ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        _cap_age(ds)
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = self.method_description()
        codes = []
        for value, meaning in METHOD_CODES:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            codes.append(item)
        ds.DeidentificationMethodCodeSequence = codes
        ds.file_meta = _clean_file_meta(ds)

    @staticmethod
    def residue(ds: Dataset, *, terms: PhiTerms) -> list[str]:
        """Keywords of the elements (File Meta included) where a PHI term of the source is
        still found; empty when none. Pixel data and other bulk binary values are skipped;
        the reasons name elements only, never the PHI found."""
        found: list[str] = []

        def check(_: Dataset, element: DataElement) -> None:
            if element.tag.is_private:
                found.append(f"private {element.tag}")
                return
            text = _as_text(element)
            if text and phi_text_find(text, terms=terms):
                found.append(element.keyword or str(element.tag))

        # The attributes this module writes itself name the profile ("Patient", "Basic"...).
        skipped = {tag_for_keyword(keyword) for keyword in _WRITTEN_HERE}
        checked = Dataset({tag: value for tag, value in ds.items() if tag not in skipped})
        ds.file_meta.walk(check)
        checked.walk(check)
        return found


def _in_removed_group(group: int) -> bool:
    return any(low <= group <= high for low, high in _REMOVED_GROUP_RANGES)


def _remove_profile_elements(dataset: Dataset, element: DataElement) -> None:
    if element.keyword in BASIC_PROFILE_REMOVE:
        del dataset[element.tag]


def _empty_person_names(dataset: Dataset, element: DataElement) -> None:
    # dicognito's made-up names look real (and may match the real one by chance): Z instead.
    if element.VR == "PN":
        element.value = ""


def _cap_age(ds: Dataset) -> None:
    age = str(ds.get("PatientAge", "") or "")
    if age.endswith("Y") and age[:-1].isdigit() and int(age[:-1]) >= _OLDEST_AGE:
        ds.PatientAge = f"{_OLDEST_AGE:03d}Y"


def _clean_file_meta(ds: Dataset) -> FileMetaDataset:
    """Only the three identifying File Meta elements, rebuilt from the de-identified dataset
    (no source AE title or private information of the sender)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ds.file_meta.TransferSyntaxUID
    return meta


def _as_text(element: DataElement) -> str:
    if element.VR == "SQ" or element.tag == 0x7FE00010 or element.VR in _NUMERIC_BULK_VRS:
        return ""
    value = element.value
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return value.decode("latin-1")  # UN elements: look inside anyway
    if isinstance(value, str):
        return value
    try:
        return "\\".join(str(v) for v in value)
    except TypeError:
        return str(value)
