from django.urls import path

from playground.demos import learn, races, try_digits, try_gan, try_recommend, try_translate, views

urlpatterns = [
    path("", views.home, name="home"),
    path("play/<slug:recipe>/", views.play, name="play"),
    path("jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("learn/activations/", learn.activations, name="learn-activations"),
    path("learn/training/", learn.training, name="learn-training"),
    path("try/digits/<int:pk>/", try_digits.try_digits, name="try-digits"),
    path("try/recommend/<int:pk>/", try_recommend.try_recommend, name="try-recommend"),
    path("try/gan/<int:pk>/", try_gan.try_gan, name="try-gan"),
    path("try/translate/<int:pk>/", try_translate.try_translate, name="try-translate"),
    path("races/<int:pk>/", races.race, name="race"),
]
