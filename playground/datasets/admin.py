from __future__ import annotations

from django.contrib import admin

from playground.datasets.models import UserDataset
from playground.datasets.services import delete_dataset


@admin.register(UserDataset)
class UserDatasetAdmin(admin.ModelAdmin):
    """Staff see every upload: owner, kind, size, version, checksum and what it holds. An upload
    is changed only by uploading it again (a new version), so the fields are read-only; deleting
    removes the stored file too (services.delete_dataset), one by one or in bulk."""

    list_display = ["id", "name", "version", "owner", "kind", "size", "samples", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["name", "owner__username", "checksum"]
    readonly_fields = ["owner", "name", "kind", "file", "size", "checksum", "version", "meta", "created_at"]
    actions = ["delete_with_files"]

    @admin.display(description="samples")
    def samples(self, dataset: UserDataset):
        return dataset.meta.get("samples")

    def has_add_permission(self, request):
        return False  # uploads go through the checks of /datasets/ and the API

    def delete_model(self, request, dataset):
        delete_dataset(dataset)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # Django's bulk delete would leave the files behind
        return actions

    @admin.action(description="Delete the selected datasets and their files")
    def delete_with_files(self, request, queryset):
        for dataset in queryset:
            delete_dataset(dataset)
        self.message_user(request, f"Deleted {len(queryset)} dataset(s) and their files.")
