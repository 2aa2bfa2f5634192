"""Thin REST views over studies and instances: parse, call a service/selector, shape output."""

from __future__ import annotations

import logging
from typing import Any, cast

import pydicom
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from pydicom.dataset import Dataset
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ParseError, PermissionDenied
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inference.preprocess import PixelDataError, Window
from workstation.accounts.access import study_scope
from workstation.audit.models import AuditAction, AuditOutcome
from workstation.audit.services import audit_record
from workstation.dicom.ingest import IngestRefused, StoreStatus
from workstation.dicom.part10 import Part10Error, encode_preamble_and_meta, split_part10
from workstation.studies import imaging, selectors, services
from workstation.studies.models import Instance, Study, StudyStatus
from workstation.studies.storage import StorageError

logger = logging.getLogger(__name__)


def _require(request: Request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"your role does not allow this ({perm})")


class StudyFilterSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(choices=[s.value for s in StudyStatus], required=False)
    modality = serializers.RegexField(r"^[A-Za-z]{2,16}$", required=False)
    patient_id = serializers.CharField(max_length=64, required=False)
    accession_number = serializers.CharField(max_length=16, required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    q = serializers.CharField(max_length=64, required=False)


class StudyOutputSerializer(serializers.ModelSerializer[Study]):
    patient_id = serializers.CharField(source="patient.patient_id")
    patient_name = serializers.CharField(source="patient.name")
    patient_sex = serializers.CharField(source="patient.sex")
    indication = serializers.SerializerMethodField()
    series = serializers.SerializerMethodField()

    class Meta:
        model = Study
        fields = [
            "study_uid",
            "patient_id",
            "patient_name",
            "patient_sex",
            "patient_age_years",
            "accession_number",
            "study_date",
            "description",
            "modalities",
            "status",
            "priority",
            "is_stat",
            "received_at",
            "completed_at",
            "indication",
            "series",
        ]

    def get_indication(self, study: Study) -> str:
        context = getattr(study, "clinical_context", None)
        return context.indication if context else ""

    def get_series(self, study: Study) -> list[dict[str, Any]]:
        return [
            {
                "series_uid": series.series_uid,
                "modality": series.modality,
                "body_part": series.body_part,
                "description": series.description,
            }
            for series in study.series.all()
        ]


class StudyListApi(APIView):
    @extend_schema(parameters=[StudyFilterSerializer], responses=StudyOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        _require(request, "studies.view_study")
        filters = StudyFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = study_scope(
            user=request.user,
            queryset=selectors.study_list(
                filters=cast(selectors.StudyFilters, filters.validated_data)
            ),
        )
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        audit_record(
            action=AuditAction.VIEW,
            user=request.user,
            object_type="study_list",
            detail=" ".join(study.study_uid for study in page or [])[:2000],
        )
        return paginator.get_paginated_response(StudyOutputSerializer(page, many=True).data)


class StudyCompleteApi(APIView):
    @extend_schema(request=None, responses={202: None})
    def post(self, request: Request, study_uid: str) -> Response:
        """Declare a study complete now (instead of waiting for it to settle)."""
        _require(request, "studies.change_study")
        try:
            job = services.study_complete(
                study_uid=study_uid,
                reason="explicit",
                requested_by=request.user,  # type: ignore[arg-type]
            )
        except Study.DoesNotExist:
            raise NotFound(f"no study {study_uid[:64]!r}") from None
        body = {
            "study_uid": study_uid,
            "drafting_job": job.pk if job else None,
            "state": str(job.state) if job else "nothing to draft",
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class FrameQuerySerializer(serializers.Serializer[dict[str, Any]]):
    window_center = serializers.FloatField(required=False)
    window_width = serializers.FloatField(required=False, min_value=1e-3)
    size = serializers.IntegerField(required=False, min_value=16, max_value=imaging.MAX_RENDER_SIZE)
    # Not "format": DRF reserves that query parameter for content negotiation.
    mode = serializers.ChoiceField(choices=["windowed", "raw16"], default="windowed")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("window_center" in attrs) != ("window_width" in attrs):
            raise serializers.ValidationError("give both window_center and window_width")
        return attrs


class InstanceFrameApi(APIView):
    @extend_schema(parameters=[FrameQuerySerializer], responses={(200, "image/png"): bytes})
    def get(self, request: Request, sop_uid: str) -> HttpResponse:
        """The first frame as PNG: windowed 8-bit (``windowed``) or 16-bit values (``raw16``).

        ``raw16`` pixels are the modality values plus ``X-Value-Offset``; the default window
        and photometric inversion come in the ``X-Window-*`` and ``X-Inverted`` headers.
        """
        _require(request, "studies.view_study")
        query = FrameQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        try:
            instance = selectors.instance_get(sop_uid=sop_uid)
        except Instance.DoesNotExist:
            raise NotFound(f"no instance {sop_uid[:64]!r}") from None
        # Readers of images (view_instance) see every frame; clinicians only their studies'.
        if (
            not request.user.has_perm("studies.view_instance")
            and not study_scope(
                user=request.user, queryset=Study.objects.filter(pk=instance.series.study_id)
            ).exists()
        ):
            audit_record(
                action=AuditAction.DENIED,
                user=request.user,
                outcome=AuditOutcome.DENIED,
                object_type="instance",
                object_id=sop_uid[:128],
                study_uid=instance.series.study.study_uid,
                detail="frame outside the user's scope",
            )
            raise NotFound(f"no instance {sop_uid[:64]!r}")
        window = (
            Window(params["window_center"], params["window_width"])
            if "window_center" in params
            else None
        )
        try:
            frame = imaging.frame_render(
                instance=instance,
                window=window,
                size=params.get("size"),
                raw=params["mode"] == "raw16",
            )
        except PixelDataError as exc:
            return HttpResponse(
                f'{{"detail": "image cannot be rendered: {str(exc)[:200]}"}}'.encode(),
                status=422,
                content_type="application/json",
            )
        audit_record(
            action=AuditAction.VIEW,
            user=request.user,
            object_type="instance",
            object_id=sop_uid,
            study_uid=instance.series.study.study_uid,
        )
        response = HttpResponse(frame.png, content_type="image/png")
        response["X-Window-Center"] = f"{frame.window.center:g}"
        response["X-Window-Width"] = f"{frame.window.width:g}"
        response["X-Inverted"] = "1" if frame.inverted else "0"
        response["X-Value-Offset"] = f"{frame.value_offset:g}"
        response["X-Image-Rows"] = str(frame.rows)
        response["X-Image-Columns"] = str(frame.columns)
        response["Cache-Control"] = "private, max-age=3600"
        return response


class DicomParser(BaseParser):
    media_type = "application/dicom"

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> Any:  # the raw bytes; DRF's stub types parsers as returning mappings
        limit = settings.DICOM_UPLOAD_MAX_BYTES
        data: bytes = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise ParseError(f"file larger than {limit} bytes")
        return data


class InstanceUploadApi(APIView):
    parser_classes = [DicomParser]

    @extend_schema(request={"application/dicom": bytes}, responses={201: None, 200: None})
    def post(self, request: Request) -> Response:
        """Store one DICOM Part 10 file (``Content-Type: application/dicom``)."""
        _require(request, "studies.change_study")
        data = request.data
        if not isinstance(data, bytes) or not data:
            raise ParseError("empty body: send one DICOM Part 10 file")
        try:
            part10 = split_part10(data)
            dataset = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
            if not isinstance(dataset, Dataset) or len(dataset) == 0:
                raise Part10Error("the dataset is empty")
        except Part10Error as exc:
            raise ParseError(str(exc)) from None
        except Exception as exc:  # pydicom raises many types on corrupt bytes
            raise ParseError(f"DICOM dataset cannot be decoded: {str(exc)[:200]}") from None
        try:
            result = services.instance_ingest(
                dataset=dataset,
                dataset_bytes=part10.dataset_bytes,
                preamble_and_meta=encode_preamble_and_meta(part10.file_meta),
                transfer_syntax_uid=str(part10.file_meta.TransferSyntaxUID),
                affected_sop_class_uid=str(part10.file_meta.MediaStorageSOPClassUID),
                affected_sop_uid=str(part10.file_meta.MediaStorageSOPInstanceUID),
                source=f"upload:{request.user.pk}",
            )
        except IngestRefused as refused:
            code = (
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
                if refused.status
                in (StoreStatus.SOP_CLASS_NOT_SUPPORTED, StoreStatus.UNSUPPORTED_TRANSFER_SYNTAX)
                else status.HTTP_409_CONFLICT
                if refused.status == StoreStatus.CONFLICTING_INSTANCE
                else status.HTTP_400_BAD_REQUEST
            )
            logger.warning("upload by user %s refused: %s", request.user.pk, refused.message)
            return Response(
                {"detail": refused.message, "dimse_status": f"0x{refused.status:04X}"}, status=code
            )
        except (StorageError, DatabaseError) as exc:
            logger.error("upload by user %s failed: %s", request.user.pk, exc)
            return Response({"detail": "storage unavailable, retry later"}, status=503)
        return Response(
            {"sop_uid": result.sop_uid, "study_uid": result.study_uid, "created": result.created},
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )
