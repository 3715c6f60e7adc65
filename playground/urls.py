from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from csp.decorators import csp_update
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from playground.accounts.urls import share_urlpatterns
from playground.datasets.api import DatasetViewSet
from playground.jobs import api_architecture, api_races, browser, serving
from playground.jobs.api import JobArtifactView, JobSnapshotView, JobViewSet, RecipeListView

router = DefaultRouter()
router.register("jobs", JobViewSet, basename="job")
router.register("datasets", DatasetViewSet, basename="dataset")

handler404 = "playground.errors.page_not_found"
handler500 = "playground.errors.server_error"  # JSON under /api/, a plain page elsewhere

urlpatterns = [
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"))),  # pages without our <link>
    path("admin/", admin.site.urls),
    path("accounts/", include("playground.accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include(share_urlpatterns)),
    path("api/v1/recipes/", RecipeListView.as_view(), name="recipe-list"),
    path("api/v1/jobs/<int:pk>/artifacts/<path:path>", JobArtifactView.as_view(), name="job-artifact"),
    path("api/v1/jobs/<int:pk>/snapshot/<path:path>", JobSnapshotView.as_view(), name="job-snapshot"),
    *serving.urlpatterns(),  # each recipe's own actions (Recipe.actions)
    *browser.urlpatterns(),  # jobs that train in the browser (docs/browser-training.md)
    path("api/v1/architecture/", api_architecture.ArchitectureView.as_view(), name="architecture"),
    path("api/v1/races/", api_races.RaceCreateView.as_view(), name="race-create"),
    path("api/v1/races/<int:pk>/", api_races.RaceDetailView.as_view(), name="race-detail"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view loads its start-up script from ?script= instead of inline (CSP: no inline
    # scripts); drf-spectacular's template still has one inline <style>.
    path("api/docs/", csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularSwaggerSplitView.as_view(url_name="schema")),
         name="api-docs"),
    path("", include("playground.datasets.urls")),
    path("", include("playground.ops.urls")),
    path("", include("playground.demos.urls")),
]
