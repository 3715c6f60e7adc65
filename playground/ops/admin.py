from __future__ import annotations

from django.contrib import admin

from playground.jobs.leases import stale_before
from playground.ops.models import WorkerNode


@admin.register(WorkerNode)
class WorkerNodeAdmin(admin.ModelAdmin):
    """Read-only: workers write their own rows. Deleting the row of a worker that is gone for
    good is the one edit; a live worker re-registers at its next heartbeat."""

    list_display = ["hostname", "online", "gpus", "queue_list", "current_job", "last_seen", "pid"]
    list_filter = ["gpus"]
    search_fields = ["hostname"]
    readonly_fields = [f.name for f in WorkerNode._meta.fields]
    list_select_related = ["current_job"]

    @admin.display(boolean=True, description="online")
    def online(self, node: WorkerNode) -> bool:
        return node.last_seen >= stale_before()

    @admin.display(description="queues")
    def queue_list(self, node: WorkerNode) -> str:
        return ", ".join(node.queues)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
