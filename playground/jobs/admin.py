from __future__ import annotations

from django.contrib import admin, messages

from playground.jobs import services
from playground.jobs.models import Job, JobEvent


class JobEventInline(admin.TabularInline):
    model = JobEvent
    fields = ["seq", "type", "data", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-seq"]
    max_num = 0
    show_change_link = False

    def get_queryset(self, request):
        # The newest 200 only: a long job has thousands of batch events.
        qs = super().get_queryset(request)
        ids = list(qs.order_by("-seq").values_list("pk", flat=True)[:200])
        return qs.filter(pk__in=ids)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "recipe", "dataset", "status", "created_at", "finished_at", "best_epoch"]
    list_filter = ["status", "recipe", "dataset", "precision"]
    search_fields = ["id", "owner__username", "recipe", "error"]
    readonly_fields = [f.name for f in Job._meta.fields]
    inlines = [JobEventInline]
    actions = ["cancel_jobs"]

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        cancelled = skipped = 0
        for job in queryset:
            try:
                services.request_cancel(job)
                cancelled += 1
            except services.JobConflict:
                skipped += 1
        self.message_user(request, f"Cancel requested for {cancelled} job(s); {skipped} already finished.", messages.INFO)

    def has_add_permission(self, request):
        return False
