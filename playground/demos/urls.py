from django.urls import path

from playground.demos import compare, learn, races, try_pages, views

urlpatterns = [
    path("", views.home, name="home"),
    path("play/<slug:recipe>/", views.play, name="play"),
    path("jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("learn/activations/", learn.activations, name="learn-activations"),
    path("learn/training/", learn.training, name="learn-training"),
    path("learn/playground/", learn.playground, name="learn-playground"),
    path("learn/playground/points/", learn.playground_points, name="learn-playground-points"),
    *try_pages.urlpatterns(),
    path("races/", races.race_list, name="races"),
    path("races/<int:pk>/", races.race, name="race"),
    path("compare/", compare.compare, name="compare"),
]
