from django.urls import path

from playground.accounts import share, views

# Mounted at /accounts/ next to django.contrib.auth.urls (login, logout, password change).
urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("tokens/", views.tokens, name="api-tokens"),
    path("tokens/<int:pk>/revoke/", views.revoke_token, name="api-token-revoke"),
]

# Mounted at the site root: one job's API share endpoint and the read-only URLs of its link.
share_urlpatterns = [
    path("api/v1/jobs/<int:pk>/share/", share.JobShareView.as_view(), name="job-share"),
    path("s/<str:token>/", share.shared_job_page, name="shared-job"),
    path("s/<str:token>/job/", share.SharedJobView.as_view(), name="shared-job-data"),
    path("s/<str:token>/events/", share.SharedEventsView.as_view(), name="shared-job-events"),
    path("s/<str:token>/artifacts/<path:path>", share.SharedArtifactView.as_view(), name="shared-job-artifact"),
]
