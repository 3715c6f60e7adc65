from django.urls import path

from playground.demos import try_digits, views

urlpatterns = [
    path("", views.home, name="home"),
    path("play/<slug:recipe>/", views.play, name="play"),
    path("jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("try/digits/<int:pk>/", try_digits.try_digits, name="try-digits"),
]
