from django.urls import path

from playground.accounts.consumers import SharedJobConsumer
from playground.jobs.consumers import JobConsumer
from playground.ops.consumers import DashboardConsumer

websocket_urlpatterns = [
    path("ws/jobs/<int:job_id>/", JobConsumer.as_asgi()),
    path("ws/share/<str:token>/", SharedJobConsumer.as_asgi()),
    path("ws/dashboard/", DashboardConsumer.as_asgi()),
]
