"""DICOMweb endpoints: parse the request, call the search/retrieve/store code, shape the reply.

Authentication is the API's (session or token). QIDO needs ``studies.view_study``, WADO
``studies.view_instance``, STOW ``studies.change_study``; every study a user may not see
(``study_scope``) answers 404 as if absent. Each request writes one audit row.
"""

from __future__ import annotations

import io
import json
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import HttpResponse
from PIL import Image
from rest_framework.exceptions import NotAcceptable, NotFound, ParseError, PermissionDenied
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from inference.preprocess import PixelDataError
from workstation.accounts.access import study_scope
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.dicom.query import QueryError, QueryLevel, search
from workstation.dicomweb import retrieve
from workstation.dicomweb.multipart import (
    MediaType,
    MultipartError,
    accept_parse,
    media_type_parse,
    multipart_join,
    multipart_split,
)
from workstation.dicomweb.negotiation import rendering_params, wanted_transfer_syntax
from workstation.dicomweb.qido import qido_query_parse
from workstation.dicomweb.stow import stow_response, stow_store
from workstation.studies import imaging
from workstation.studies.models import Instance, Study

DICOM_JSON = "application/dicom+json"
_JSON_TYPES = frozenset({DICOM_JSON, "application/json", "application/*", "*/*"})
# A WADO-RS response is built in memory: at most this many instances, and no more bytes than
# an upload may have (DICOM_UPLOAD_MAX_BYTES); larger studies are retrieved series by series.
MAX_INSTANCES = 10_000


class _ClientAcceptIgnored(BaseContentNegotiation):
    """DICOMweb Accept headers (multipart/related; type=...) are negotiated by the views
    themselves; errors are always JSON."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: Any, format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


class _DicomwebView(APIView):
    schema = None  # PS3.18 is the contract (and its multipart bodies are not OpenAPI's)
    content_negotiation_class = _ClientAcceptIgnored
    renderer_classes = [JSONRenderer]
    parser_classes: list[Any] = []


def _require(request: Request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"your role does not allow this ({perm})")


def _base_url(request: Request) -> str:
    return request.build_absolute_uri("/dicomweb").rstrip("/")


def _scoped_studies(request: Request) -> QuerySet[Study]:
    return study_scope(user=request.user, queryset=Study.objects.all())


def _error(message: str, status: int) -> HttpResponse:
    """Errors found after DRF's handling (retrieval, rendering) as the API's JSON shape."""
    return HttpResponse(
        json.dumps({"detail": message}), status=status, content_type="application/json"
    )


def _json(body: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(body), status=status, content_type=DICOM_JSON)


def _accepts(request: Request) -> list[MediaType]:
    return accept_parse(request.headers.get("Accept", "") or "*/*")


# --- QIDO-RS -------------------------------------------------------------------------------


def _retrieve_url(base: str, row: Any, level: QueryLevel) -> str:
    url = f"{base}/studies/{row.StudyInstanceUID}"
    if level in (QueryLevel.SERIES, QueryLevel.IMAGE):
        url += f"/series/{row.SeriesInstanceUID}"
    if level is QueryLevel.IMAGE:
        url += f"/instances/{row.SOPInstanceUID}"
    return url


class _QidoView(_DicomwebView):
    level = QueryLevel.STUDY

    def _within(self, request: Request, **uids: str) -> Q:
        studies = _scoped_studies(request).values("pk")
        prefix = {QueryLevel.STUDY: "", QueryLevel.SERIES: "study__"}.get(
            self.level, "series__study__"
        )
        within = Q(**{f"{prefix}pk__in" if prefix else "pk__in": studies})
        if "study_uid" in uids:
            within &= Q(**{f"{prefix}study_uid": uids["study_uid"]})
        if "series_uid" in uids:
            within &= Q(series__series_uid=uids["series_uid"])
        return within

    def get(self, request: Request, **uids: str) -> HttpResponse:
        """Search (QIDO-RS): attribute matching, includefield, limit/offset."""
        _require(request, "studies.view_study")
        if not any(e.media_type in _JSON_TYPES for e in _accepts(request)):
            raise NotAcceptable("search results are application/dicom+json only")
        try:
            query = qido_query_parse(
                request.query_params.lists(),
                level=self.level,
                max_results=settings.DICOMWEB_MAX_RESULTS,
            )
            result = search(
                level=self.level,
                keys=query.keys,
                include=query.include,
                limit=query.limit,
                offset=query.offset,
                within=self._within(request, **uids),
            )
        except QueryError as exc:
            raise ParseError(str(exc)) from None
        base = _base_url(request)
        body = []
        for row in result.rows:
            row.RetrieveURL = _retrieve_url(base, row, self.level)
            row.InstanceAvailability = "ONLINE"
            body.append(row.to_json_dict())
        audit_record(
            action=AuditAction.VIEW,
            user=request.user,
            object_type="qido",
            object_id=self.level.value,
            study_uid=uids.get("study_uid", ""),
            detail=f"{request.get_full_path()[:500]} -> {len(body)} matches",
        )
        response = _json(body)
        if result.truncated or query.limit_capped:
            response["Warning"] = (
                f'299 {request.get_host()} "There are additional results that can be requested'
                f' (at most {settings.DICOMWEB_MAX_RESULTS} per request)"'
            )
        return response


class StudySearch(_QidoView):
    level = QueryLevel.STUDY


class SeriesSearch(_QidoView):
    level = QueryLevel.SERIES


class InstanceSearch(_QidoView):
    level = QueryLevel.IMAGE


# --- WADO-RS -------------------------------------------------------------------------------


def _instances(
    request: Request, study_uid: str, series_uid: str = "", sop_uid: str = ""
) -> list[Instance]:
    queryset = Instance.objects.select_related("series__study").filter(
        series__study__in=_scoped_studies(request), series__study__study_uid=study_uid
    )
    if series_uid:
        queryset = queryset.filter(series__series_uid=series_uid)
    if sop_uid:
        queryset = queryset.filter(sop_uid=sop_uid)
    ordered = queryset.order_by("series__series_number", "instance_number", "pk")
    instances = list(ordered[: MAX_INSTANCES + 1])
    if not instances:
        raise NotFound("no such study, series or instance")
    if len(instances) > MAX_INSTANCES:
        raise ParseError(f"more than {MAX_INSTANCES} instances: retrieve series by series")
    return instances


def _instance_url(base: str, instance: Instance) -> str:
    return (
        f"{base}/studies/{instance.series.study.study_uid}/series/{instance.series.series_uid}"
        f"/instances/{instance.sop_uid}"
    )


def _audit_retrieve(request: Request, what: str, instances: list[Instance]) -> None:
    audit_record(
        action=AuditAction.VIEW,
        user=request.user,
        object_type=f"wado_{what}",
        object_id=instances[0].sop_uid if len(instances) == 1 else "",
        study_uid=instances[0].series.study.study_uid,
        detail=f"{len(instances)} instance(s)",
    )


class RetrieveInstances(_DicomwebView):
    def get(
        self, request: Request, study_uid: str, series_uid: str = "", sop_uid: str = ""
    ) -> HttpResponse:
        """Study, series or instance as multipart/related application/dicom parts."""
        _require(request, "studies.view_instance")
        syntax = wanted_transfer_syntax(_accepts(request))
        instances = _instances(request, study_uid, series_uid, sop_uid)
        total = sum(i.size_bytes for i in instances)
        if total > settings.DICOM_UPLOAD_MAX_BYTES:
            return _error(f"{total} bytes: retrieve series or instances one by one", 413)
        try:
            parts = [
                ("application/dicom", retrieve.instance_part10(i, transfer_syntax=syntax))
                for i in instances
            ]
        except retrieve.RetrieveError as exc:
            return _error(str(exc), exc.status)
        _audit_retrieve(request, "instances", instances)
        body, boundary = multipart_join(parts)
        return HttpResponse(
            body,
            content_type=f'multipart/related; type="application/dicom"; boundary={boundary}',
        )


class RetrieveMetadata(_DicomwebView):
    def get(
        self, request: Request, study_uid: str, series_uid: str = "", sop_uid: str = ""
    ) -> HttpResponse:
        """DICOM JSON of each instance; Pixel Data as a BulkDataURI to its frames."""
        _require(request, "studies.view_instance")
        instances = _instances(request, study_uid, series_uid, sop_uid)
        base = _base_url(request)
        try:
            body = [
                retrieve.instance_metadata(i, instance_url=_instance_url(base, i))
                for i in instances
            ]
        except retrieve.RetrieveError as exc:
            return _error(str(exc), exc.status)
        _audit_retrieve(request, "metadata", instances)
        return _json(body)


class RetrieveFrames(_DicomwebView):
    def get(
        self, request: Request, study_uid: str, series_uid: str, sop_uid: str, frames: str
    ) -> HttpResponse:
        """Frames as native pixels (octet-stream) or, when asked, as stored compressed."""
        _require(request, "studies.view_instance")
        (instance,) = _instances(request, study_uid, series_uid, sop_uid)
        stored_media = retrieve.FRAME_MEDIA_TYPES.get(instance.transfer_syntax_uid)
        encapsulated = any(
            entry.params.get("type", entry.media_type) == stored_media
            for entry in _accepts(request)
        )
        try:
            numbers = retrieve.frame_numbers_parse(frames)
            payload = retrieve.instance_frames(instance, numbers, encapsulated=encapsulated)
        except retrieve.RetrieveError as exc:
            return _error(str(exc), exc.status)
        _audit_retrieve(request, "frames", [instance])
        inner = payload[0].content_type.split(";")[0]
        body, boundary = multipart_join([(f.content_type, f.data) for f in payload])
        return HttpResponse(
            body, content_type=f'multipart/related; type="{inner}"; boundary={boundary}'
        )


class RetrieveRendered(_DicomwebView):
    thumbnail = False

    def get(
        self,
        request: Request,
        study_uid: str,
        series_uid: str,
        sop_uid: str,
        frames: str = "1",
    ) -> HttpResponse:
        """A frame rendered for display (windowed, MONOCHROME1 inverted): JPEG unless PNG
        is asked for. Only the first frame is rendered."""
        _require(request, "studies.view_instance")
        (instance,) = _instances(request, study_uid, series_uid, sop_uid)
        if frames != "1":
            raise ParseError("only frame 1 is rendered")
        window, size, quality = rendering_params(request)
        if self.thumbnail:
            size = 128
        png = any(e.media_type == "image/png" for e in _accepts(request))
        try:
            frame = imaging.frame_render(instance=instance, window=window, size=size, raw=False)
        except PixelDataError as exc:
            return _error(f"cannot be rendered: {str(exc)[:200]}", 422 if instance.rows else 404)
        _audit_retrieve(request, "rendered", [instance])
        if png:
            return HttpResponse(frame.png, content_type="image/png")
        buffer = io.BytesIO()
        Image.open(io.BytesIO(frame.png)).convert("L").save(buffer, "JPEG", quality=quality)
        return HttpResponse(buffer.getvalue(), content_type="image/jpeg")


class RetrieveThumbnail(RetrieveRendered):
    thumbnail = True


# --- STOW-RS -------------------------------------------------------------------------------


class StoreInstances(_DicomwebView):
    def post(self, request: Request, study_uid: str | None = None) -> HttpResponse:
        """Store multipart/related application/dicom parts through the C-STORE ingest path."""
        _require(request, "studies.change_study")
        content_type = media_type_parse(request.headers.get("Content-Type", ""))
        if (
            content_type.media_type != "multipart/related"
            or content_type.params.get("type", "application/dicom") != "application/dicom"
        ):
            return _error('send multipart/related; type="application/dicom"', 415)
        limit = settings.DICOM_UPLOAD_MAX_BYTES
        # Django's request, not DRF's stream: DRF sees no body without a Content-Length,
        # and DICOMweb clients send chunked.
        body: bytes = request._request.read(limit + 1)
        if len(body) > limit:
            return _error(f"request larger than {limit} bytes", 413)
        try:
            parts = multipart_split(body, content_type.params.get("boundary", ""))
        except MultipartError as exc:
            raise ParseError(f"malformed multipart/related body: {exc}") from None
        if not parts:
            raise ParseError("the request has no parts")
        result = stow_store(parts=parts, study_uid=study_uid, source=f"stow:{request.user.pk}")
        audit_record(
            action=AuditAction.EDIT,
            user=request.user,
            object_type="stow",
            object_id=study_uid or "",
            study_uid=study_uid or (result.stored[0].study_uid if result.stored else ""),
            detail=(
                f"{len(result.stored)} stored, {len(result.failed)} failed: "
                + "; ".join(o.message for o in result.failed)
            )[:2000],
        )
        dataset = stow_response(result, base_url=_base_url(request), study_uid=study_uid)
        response = _json(dataset.to_json_dict(), status=result.http_status)
        if result.failed:
            response["Warning"] = "299 - " + json.dumps(
                "; ".join(o.message for o in result.failed)[:500]
            )
        return response


class StudiesRoot(StudySearch, StoreInstances):
    """``/studies``: search (GET) and store (POST)."""


class StudyResource(RetrieveInstances, StoreInstances):
    """``/studies/{study}``: retrieve (GET) and store into this study (POST)."""
