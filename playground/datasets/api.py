from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from playground.datasets import ingest, services
from playground.datasets.models import UserDataset
from playground.datasets.serializers import DatasetSerializer, DatasetUploadSerializer


def refusal(exc: ingest.IngestError) -> Response:
    """400 names the field, as every other 400 of the API; 413, 415 and 503 (the file storage is
    down) carry a `detail`."""
    if exc.status == 400:
        return Response({exc.field: [exc.message]}, status=400)
    return Response({"detail": exc.message}, status=exc.status)


class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                     viewsets.GenericViewSet):
    serializer_class = DatasetSerializer
    queryset = UserDataset.objects.none()  # for the schema's path parameter types
    parser_classes = [MultiPartParser, FormParser]  # uploads; GET and DELETE have no body

    def get_queryset(self):
        # Another user's dataset is simply not there: 404, never 403, staff included.
        return services.own_datasets(self.request.user)


    @extend_schema(request={"multipart/form-data": DatasetUploadSerializer},
                   responses={201: DatasetSerializer, 400: OpenApiTypes.OBJECT, 413: OpenApiTypes.OBJECT,
                              415: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT})
    def create(self, request, *args, **kwargs):
        """Upload a dataset: checked, converted to arrays and stored; a refusal keeps nothing."""
        upload = DatasetUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        options = ingest.Options(size=data["size"], channels=int(data["channels"]), label=data.get("label"))
        try:
            dataset = services.create_dataset(request.user, data["name"], data["file"].name, data["file"].read(),
                                              data.get("kind"), options)
        except ingest.IngestError as exc:
            return refusal(exc)
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: UserDataset) -> None:
        services.delete_dataset(instance)
