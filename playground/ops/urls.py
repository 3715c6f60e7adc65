from django.urls import path

from playground.ops import dashboard

urlpatterns = [path("dashboard/", dashboard.dashboard, name="dashboard")]
