from django.contrib import admin

from playground.accounts.models import ApiToken, ShareLink


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created", "last_used"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["prefix", "created", "last_used"]
    exclude = ["key_hash"]

    def has_add_permission(self, request):
        return False  # keys are issued on /accounts/tokens/, where the key is shown once


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ["job", "created_by", "created"]
    readonly_fields = ["job", "token", "created_by", "created"]
