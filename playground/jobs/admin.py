from __future__ import annotations

from django.contrib import admin, messages

from playground.jobs import services
from playground.jobs.models import GangSlot, Job, JobEvent


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


class GangSlotInline(admin.TabularInline):
    """A multi_worker job's members: which worker held which rank (playground/jobs/gang.py)."""

    model = GangSlot
    fields = ["rank", "worker", "address", "joined_at", "heartbeat_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "recipe", "dataset", "status", "engine", "worker", "created_at", "finished_at", "best_epoch"]
    list_filter = ["status", "engine", "recipe", "dataset", "precision"]
    search_fields = ["id", "owner__username", "recipe", "error"]
    readonly_fields = [f.name for f in Job._meta.fields]
    inlines = [JobEventInline, GangSlotInline]
    actions = ["cancel_jobs", "retry_jobs", "requeue_jobs"]

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

    @admin.action(description="Retry selected failed or cancelled jobs (as new jobs)")
    def retry_jobs(self, request, queryset):
        retries, skipped = [], 0
        for job in queryset:
            try:
                retries.append(services.retry_job(job).pk)
            except services.JobConflict:
                skipped += 1
        self.message_user(request, f"Retried {len(retries)} job(s) as {', '.join(f'#{pk}' for pk in retries) or 'none'}; "
                                   f"{skipped} skipped (not failed or cancelled).", messages.INFO)

    @admin.action(description="Requeue selected running jobs (worker stuck or gone)")
    def requeue_jobs(self, request, queryset):
        requeued = skipped = 0
        for job in queryset:
            try:
                services.requeue_job(job, by=request.user.get_username())
                requeued += 1
            except services.JobConflict:
                skipped += 1
        self.message_user(request, f"Requeued {requeued} job(s); {skipped} skipped (not running).", messages.INFO)

    def has_add_permission(self, request):
        return False
