from __future__ import annotations

from rest_framework import serializers

from playground.datasets import ingest
from playground.datasets.models import UserDataset
from trainer import user_data


class DatasetUploadSerializer(serializers.Serializer):
    """Input of POST /api/v1/datasets/ (multipart). The file itself is checked by ingest.py."""

    file = serializers.FileField(help_text="A .zip with one folder of PNG/JPEG/WebP images per class (kind images), "
                                           "or a .csv with a header, numeric feature columns and a label column "
                                           "(kind tabular), or a .csv with the header user,item,rating[,title] "
                                           "(kind ratings, for the recommender).")
    name = serializers.CharField(max_length=100, help_text="Your name for it; uploading the same name again makes "
                                                           "its next version.")
    kind = serializers.ChoiceField(choices=list(user_data.KINDS), required=False,
                                   help_text="images, tabular or ratings; default: from the file's extension (.zip, .csv; a .csv whose "
                                             "header is user,item,rating[,title] is ratings).")
    size = serializers.IntegerField(required=False, default=28, min_value=ingest.SIZES[0], max_value=ingest.SIZES[1],
                                    help_text="images: the side, in pixels, every image is resized to (default 28).")
    channels = serializers.ChoiceField(choices=list(ingest.CHANNELS), required=False, default=1,
                                       help_text="images: 1 (grayscale, default) or 3 (colour).")
    label = serializers.CharField(required=False, max_length=200,
                                  help_text="tabular: the label column's name; default: the last column.")


class DatasetClassSerializer(serializers.Serializer):
    name = serializers.CharField()
    count = serializers.IntegerField()


class DatasetSerializer(serializers.ModelSerializer):
    dataset = serializers.SerializerMethodField(help_text='What a job names it by: "user:<id>".')

    class Meta:
        model = UserDataset
        fields = ["id", "name", "kind", "size", "checksum", "version", "meta", "created_at", "dataset"]
        read_only_fields = fields
        extra_kwargs = {"size": {"help_text": "Bytes of the stored arrays (what the quota counts)."},
                        "meta": {"help_text": "classes [{name, count}], num_classes, input_shape, samples, "
                                              "train_samples, test_samples, upload {filename, bytes, sha256}; "
                                              "images: size, channels; tabular: label, columns [{name, mean, std}]."}}

    def get_dataset(self, dataset: UserDataset) -> str:
        return user_data.dataset_name(dataset.pk)
