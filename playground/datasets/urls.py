from django.urls import path

from playground.datasets import views

urlpatterns = [
    path("datasets/", views.datasets_page, name="datasets"),
    path("datasets/new/", views.new_dataset_page, name="dataset-new"),
    path("datasets/<int:pk>/delete/", views.delete_dataset, name="dataset-delete"),
    path("datasets/<int:pk>/preview.png", views.dataset_preview, name="dataset-preview"),
]
