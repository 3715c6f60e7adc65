from __future__ import annotations

from django import forms

from playground.datasets import ingest
from trainer import user_data


class UploadForm(forms.Form):
    """The /datasets/ page's upload: the API's fields (DatasetUploadSerializer), as a form."""

    file = forms.FileField(help_text="A .zip with one folder of PNG/JPEG/WebP images per class, or a .csv with a "
                                     "header, numeric columns and a label column.")
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=[("", "from the file's extension"), *((k, k) for k in user_data.KINDS)],
                             required=False)
    size = forms.IntegerField(min_value=ingest.SIZES[0], max_value=ingest.SIZES[1], initial=28, required=False,
                              help_text="Images: resized to size × size pixels.")
    channels = forms.TypedChoiceField(choices=[(1, "1 (grayscale)"), (3, "3 (colour)")], coerce=int, initial=1,
                                      required=False)
    label = forms.CharField(max_length=200, required=False, help_text="CSV: the label column; default the last.")

    def options(self) -> ingest.Options:
        data = self.cleaned_data
        return ingest.Options(size=data.get("size") or 28, channels=data.get("channels") or 1,
                              label=data.get("label") or None)
